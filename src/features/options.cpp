// FeatureOptions: validation against the documented ranges, and JSON (the form stored in model files).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include <genrenet/genrenet.h>

#include "common/json_number.h"

namespace genrenet {
namespace {

using nlohmann::json;

template <class E>
struct EnumNames {
  E value;
  const char* name;
};

constexpr EnumNames<ResampleQuality> kQualities[] = {{ResampleQuality::Low, "low"},
                                                     {ResampleQuality::Medium, "medium"},
                                                     {ResampleQuality::High, "high"},
                                                     {ResampleQuality::VeryHigh, "very-high"}};
constexpr EnumNames<Resampler> kResamplers[] = {{Resampler::Polyphase, "polyphase"}, {Resampler::Soxr, "soxr"}};
constexpr EnumNames<MelScale> kScales[] = {{MelScale::Htk, "htk"}, {MelScale::Slaney, "slaney"}};
constexpr EnumNames<MelNorm> kNorms[] = {{MelNorm::None, "none"}, {MelNorm::Slaney, "slaney"}};
constexpr EnumNames<CropMode> kCrops[] = {
    {CropMode::Center, "center"}, {CropMode::Random, "random"}, {CropMode::Start, "start"}};
constexpr EnumNames<PadMode> kPads[] = {{PadMode::Zero, "zero"}, {PadMode::Repeat, "repeat"}};

template <class E, size_t N>
const char* to_name(const EnumNames<E> (&table)[N], E v) {
  for (auto& e : table)
    if (e.value == v) return e.name;
  return "?";
}

template <class E, size_t N>
E from_name(const EnumNames<E> (&table)[N], const std::string& key, const std::string& s) {
  std::string allowed;
  for (auto& e : table) {
    if (s == e.name) return e.value;
    allowed += (allowed.empty() ? "" : ", ") + std::string(e.name);
  }
  throw Error("feature option " + key, "unknown value \"" + s + "\" (allowed: " + allowed + ")");
}

void check(bool ok, const char* field, const std::string& rule) {
  if (!ok) throw Error(std::string("feature option ") + field, rule);
}

}  // namespace

void FeatureOptions::validate() const {
  const auto& a = audio;
  check(a.sample_rate >= 1000 && a.sample_rate <= 384000, "sample_rate",
        "must be in [1000, 384000] Hz, got " + std::to_string(a.sample_rate));
  check(std::isfinite(a.max_seconds) && a.max_seconds > 0 && a.max_seconds <= 86400, "max_seconds",
        "must be in (0, 86400]");
  check(n_fft >= 64 && n_fft <= 16384 && (n_fft & (n_fft - 1)) == 0, "n_fft",
        "must be a power of two in [64, 16384], got " + std::to_string(n_fft));
  check(hop_length >= 1 && hop_length <= n_fft, "hop_length",
        "must be in [1, n_fft], got " + std::to_string(hop_length));
  check(n_mels >= 1 && n_mels <= n_fft / 2 + 1, "n_mels",
        "must be in [1, n_fft/2 + 1], got " + std::to_string(n_mels));
  const double nyquist = a.sample_rate / 2.0;
  check(std::isfinite(f_max) && f_max >= 0 && f_max <= nyquist, "f_max",
        "must be in (f_min, sample_rate/2] (0 means sample_rate/2)");
  check(std::isfinite(f_min) && f_min >= 0 && f_min < effective_f_max(), "f_min", "must be in [0, f_max)");
  check(std::isfinite(amin) && amin > 0 && amin < 1, "amin", "must be in (0, 1)");
  check(!top_db || (std::isfinite(*top_db) && *top_db > 0), "top_db", "must be positive when set");
  // The model input is n_mels x frames values; its size bounds what one inference allocates (a model file
  // declaring a million frames would make a 3-s clip cost gigabytes), so the bound is on the product.
  check(frames >= 1 && static_cast<std::int64_t>(n_mels) * frames <= kMaxInputValues, "frames",
        "must be in [1, " + std::to_string(kMaxInputValues / std::max(n_mels, 1)) + "] (n_mels x frames at most " +
            std::to_string(kMaxInputValues) + ", 16 times the paper's 128 x 1024), got " + std::to_string(frames));
}

std::string FeatureOptions::to_json() const {
  json j = {
      {"version", 2},
      {"sample_rate", audio.sample_rate},
      {"quantize_16bit", audio.quantize_16bit},
      {"max_seconds", audio.max_seconds},
      {"resample_quality", to_name(kQualities, audio.resample_quality)},
      {"resampler", to_name(kResamplers, audio.resampler)},
      {"n_fft", n_fft},
      {"hop_length", hop_length},
      {"n_mels", n_mels},
      {"f_min", f_min},
      {"f_max", f_max},
      {"mel_scale", to_name(kScales, mel_scale)},
      {"mel_norm", to_name(kNorms, mel_norm)},
      {"amin", amin},
      {"top_db", top_db ? json(*top_db) : json(nullptr)},
      {"standardize", standardize},
      {"frames", frames},
      {"crop", to_name(kCrops, crop)},
      {"pad", to_name(kPads, pad)},
  };
  return j.dump();
}

FeatureOptions FeatureOptions::from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("feature options", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw Error("feature options", "expected a JSON object");
  FeatureOptions o;
  // Version 1 (genrenet before the polyphase resampler) always resampled with libsoxr: features stored
  // with a model of then must be made the same way now.
  if (j.contains("version") && j["version"] == 1) o.audio.resampler = Resampler::Soxr;
  for (auto& [key, v] : j.items()) {
    try {
      if (key == "version") {
        if (v != 1 && v != 2) throw Error("feature options", "unsupported version " + v.dump());
      } else if (key == "sample_rate") o.audio.sample_rate = json_int(v, "feature option " + key);
      else if (key == "quantize_16bit") o.audio.quantize_16bit = v.get<bool>();
      else if (key == "max_seconds") o.audio.max_seconds = v.get<double>();
      else if (key == "resample_quality") o.audio.resample_quality = from_name(kQualities, key, v.get<std::string>());
      else if (key == "resampler") o.audio.resampler = from_name(kResamplers, key, v.get<std::string>());
      else if (key == "n_fft") o.n_fft = json_int(v, "feature option " + key);
      else if (key == "hop_length") o.hop_length = json_int(v, "feature option " + key);
      else if (key == "n_mels") o.n_mels = json_int(v, "feature option " + key);
      else if (key == "f_min") o.f_min = v.get<double>();
      else if (key == "f_max") o.f_max = v.get<double>();
      else if (key == "mel_scale") o.mel_scale = from_name(kScales, key, v.get<std::string>());
      else if (key == "mel_norm") o.mel_norm = from_name(kNorms, key, v.get<std::string>());
      else if (key == "amin") o.amin = v.get<double>();
      else if (key == "top_db") o.top_db = v.is_null() ? std::nullopt : std::optional<double>(v.get<double>());
      else if (key == "standardize") o.standardize = v.get<bool>();
      else if (key == "frames") o.frames = json_int(v, "feature option " + key);
      else if (key == "crop") o.crop = from_name(kCrops, key, v.get<std::string>());
      else if (key == "pad") o.pad = from_name(kPads, key, v.get<std::string>());
      else throw Error("feature option " + key, "unknown option");
    } catch (const json::exception& e) {
      throw Error("feature option " + key, "wrong type: " + v.dump());
    }
  }
  o.validate();
  return o;
}

}  // namespace genrenet
