// Numbers read from JSON into narrower C++ types. nlohmann's get<int>() and get<float>() convert a value
// outside the target's range with undefined behaviour (fuzz_config found `"n_fft": 6.7e29`); these take
// only values that fit, and name the field of any other.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genrenet/genrenet.h>

namespace genrenet {

// A whole number within V's range (128 and 128.0 alike). Anything but a number throws nlohmann's
// type_error, as get<V>() does (callers report it as a wrong type).
template <class V>
V json_whole(const nlohmann::json& v, const std::string& subject) {
  if (!v.is_number()) return v.get<V>();
  const double d = v.get<double>();
  constexpr double lo = static_cast<double>(std::numeric_limits<V>::min());
  // Exclusive, and exact: 2^digits (the largest value, 2^63 - 1 say, rounds up to 2^63 as a double, and a
  // double of 2^63 converted to int64 is undefined: fuzz_safetensors found a shape of 3.9e20).
  const double hi_exclusive = std::ldexp(1.0, std::numeric_limits<V>::digits);
  if (std::isfinite(d) && d == std::floor(d) && d >= lo && d < hi_exclusive)
    return v.is_number_float() ? static_cast<V>(d) : v.get<V>();
  throw Error(subject, "must be a whole number in [" + std::to_string(std::numeric_limits<V>::min()) + ", " +
                           std::to_string(std::numeric_limits<V>::max()) + "], got " + v.dump());
}

// A finite number within V's range.
template <class V>
V json_finite(const nlohmann::json& v, const std::string& subject) {
  if (!v.is_number()) return v.get<V>();
  const double d = v.get<double>();
  if (std::isfinite(d) && std::abs(d) <= static_cast<double>(std::numeric_limits<V>::max())) return static_cast<V>(d);
  throw Error(subject, "must be a finite number within " + std::string(sizeof(V) == 4 ? "float" : "double") +
                           "'s range, got " + v.dump());
}

// A list of whole numbers within V's range (a tensor's shape, its byte offsets).
template <class V>
std::vector<V> json_whole_list(const nlohmann::json& v, const std::string& subject) {
  if (!v.is_array()) return v.get<std::vector<V>>();  // nlohmann's type_error, as above
  std::vector<V> out;
  out.reserve(v.size());
  for (const auto& e : v) out.push_back(json_whole<V>(e, subject));
  return out;
}

inline int json_int(const nlohmann::json& v, const std::string& subject) { return json_whole<int>(v, subject); }
inline float json_float(const nlohmann::json& v, const std::string& subject) { return json_finite<float>(v, subject); }

}  // namespace genrenet
