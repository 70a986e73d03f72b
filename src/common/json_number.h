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

// A whole number within int's range (128 and 128.0 alike). Anything but a number throws nlohmann's
// type_error, as get<int>() does (callers report it as a wrong type).
inline int json_int(const nlohmann::json& v, const std::string& subject) {
  constexpr double lo = std::numeric_limits<int>::min(), hi = std::numeric_limits<int>::max();
  if (!v.is_number()) return v.get<int>();
  const double d = v.get<double>();
  if (std::isfinite(d) && d == std::floor(d) && d >= lo && d <= hi)
    return v.is_number_float() ? static_cast<int>(d) : static_cast<int>(v.get<std::int64_t>());
  throw Error(subject, "must be a whole number in [" + std::to_string(static_cast<long long>(lo)) + ", " +
                           std::to_string(static_cast<long long>(hi)) + "], got " + v.dump());
}

// A finite number within float's range.
inline float json_float(const nlohmann::json& v, const std::string& subject) {
  if (!v.is_number()) return v.get<float>();
  const double d = v.get<double>();
  if (std::isfinite(d) && std::abs(d) <= std::numeric_limits<float>::max()) return static_cast<float>(d);
  throw Error(subject, "must be a finite number within float's range, got " + v.dump());
}

}  // namespace genrenet
