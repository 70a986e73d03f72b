// Numbers read from JSON into narrower C++ types. nlohmann's get<int>() and get<float>() convert a value
// outside the target's range with undefined behaviour (fuzz_config found `"n_fft": 6.7e29`); these take
// only values that fit, and name the field of any other.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

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
  constexpr double hi = static_cast<double>(std::numeric_limits<V>::max());
  if (std::isfinite(d) && d == std::floor(d) && d >= lo && d <= hi)
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

inline int json_int(const nlohmann::json& v, const std::string& subject) { return json_whole<int>(v, subject); }
inline float json_float(const nlohmann::json& v, const std::string& subject) { return json_finite<float>(v, subject); }

}  // namespace genrenet
