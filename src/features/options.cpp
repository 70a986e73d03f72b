// FeatureOptions: every option declared once (name, range, default, help, flag), and from that declaration
// validation and JSON (the form stored in model files).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

#include <genrenet/genrenet.h>

#include "common/option_tables.h"

namespace genrenet {
namespace {

using options::Interval;
using options::Name;

constexpr Name<ResampleQuality> kQualities[] = {{ResampleQuality::Low, "low"},
                                                {ResampleQuality::Medium, "medium"},
                                                {ResampleQuality::High, "high"},
                                                {ResampleQuality::VeryHigh, "very-high"}};
constexpr Name<Resampler> kResamplers[] = {{Resampler::Polyphase, "polyphase"}, {Resampler::Soxr, "soxr"}};
constexpr Name<MelScale> kScales[] = {{MelScale::Htk, "htk"}, {MelScale::Slaney, "slaney"}};
constexpr Name<MelNorm> kNorms[] = {{MelNorm::None, "none"}, {MelNorm::Slaney, "slaney"}};
constexpr Name<CropMode> kCrops[] = {{CropMode::Center, "center"}, {CropMode::Random, "random"}, {CropMode::Start, "start"}};
constexpr Name<PadMode> kPads[] = {{PadMode::Zero, "zero"}, {PadMode::Repeat, "repeat"}};

std::string unless(bool ok, const std::string& rule) { return ok ? std::string() : rule; }

// The form's version. Version 1 (genrenet before the polyphase resampler) always resampled with libsoxr:
// features stored with a model of then must be made the same way now (version 1 has no "resampler" key).
options::Field<FeatureOptions> version_field() {
  options::Field<FeatureOptions> f;
  f.key = "version";
  f.rule = "1 or 2";
  f.get = [](const FeatureOptions&) { return nlohmann::json(2); };
  f.set = [](FeatureOptions& o, const nlohmann::json& v) {
    if (v != 1 && v != 2) throw Error("feature options", "unsupported version " + v.dump());
    if (v == 1) o.audio.resampler = Resampler::Soxr;
  };
  f.set_text = [](FeatureOptions&, const std::string&) {};
  f.problem = [](const FeatureOptions&) { return std::string(); };
  return f;
}

options::Table<FeatureOptions> make_table() {
  using O = FeatureOptions;
  options::Table<O> t("feature option", "Features (defaults: the paper's)");
  t.custom(version_field());
  t.integer("sample_rate", [](O& o) -> int& { return o.audio.sample_rate; }, {1000, 384000}, "Target sample rate in Hz",
            "--sample-rate");
  t.boolean("quantize_16bit", [](O& o) -> bool& { return o.audio.quantize_16bit; },
            "Round to 16-bit PCM after resampling (--no-quantize: skip it)", "--no-quantize", false);
  t.number("max_seconds", [](O& o) -> double& { return o.audio.max_seconds; }, {0, 86400, true}, "Refuse longer files",
           "--max-seconds");
  t.choice("resample_quality", [](O& o) -> ResampleQuality& { return o.audio.resample_quality; }, kQualities,
           "Resampling quality", "--resample-quality");
  t.choice("resampler", [](O& o) -> Resampler& { return o.audio.resampler; }, kResamplers,
           "polyphase (fast; libsoxr for unusual rate ratios) or soxr", "--resampler");
  t.integer("n_fft", &O::n_fft, {64, 16384}, "FFT and window length (a power of two)", "--n-fft")
      .check([](const O& o) { return unless((o.n_fft & (o.n_fft - 1)) == 0, "must be a power of two, got " + std::to_string(o.n_fft)); });
  t.integer("hop_length", &O::hop_length, {1, 16384}, "Hop between frames in samples", "--hop-length")
      .check([](const O& o) { return unless(o.hop_length <= o.n_fft, "must be in [1, n_fft], got " + std::to_string(o.hop_length)); });
  t.integer("n_mels", &O::n_mels, {1, 8193}, "Number of mel bands", "--n-mels")
      .check([](const O& o) { return unless(o.n_mels <= o.n_fft / 2 + 1, "must be in [1, n_fft/2 + 1], got " + std::to_string(o.n_mels)); });
  t.number("f_max", &O::f_max, {0, 192000}, "Highest mel band edge in Hz (0: sample_rate/2)", "--f-max")
      .check([](const O& o) { return unless(o.f_max <= o.audio.sample_rate / 2.0, "must be in (f_min, sample_rate/2] (0 means sample_rate/2)"); });
  t.number("f_min", &O::f_min, {0, 192000}, "Lowest mel band edge in Hz", "--f-min")
      .check([](const O& o) { return unless(o.f_min < o.effective_f_max(), "must be in [0, f_max)"); });
  t.choice("mel_scale", &O::mel_scale, kScales, "Mel scale", "--mel-scale");
  t.choice("mel_norm", &O::mel_norm, kNorms, "none or slaney (unit-area triangles)", "--mel-norm");
  t.number("amin", &O::amin, {0, 1, true, true}, "dB floor: 10 log10(max(x, amin))");
  t.optional_number("top_db", &O::top_db, {0, 1e6, true}, "Floor the dB values this far below the peak (0: off)", "--top-db");
  t.boolean("standardize", &O::standardize, "Standardise each spectrogram to mean 0, std 1");
  // The model input is n_mels x frames values; its size bounds what one inference allocates (a model file
  // declaring a million frames would make a 3-s clip cost gigabytes), so the bound is on the product.
  t.integer("frames", &O::frames, {1, kMaxInputValues}, "Model input length in frames", "--frames").check([](const O& o) {
    return unless(static_cast<std::int64_t>(o.n_mels) * o.frames <= kMaxInputValues,
                  "must be in [1, " + std::to_string(kMaxInputValues / std::max(o.n_mels, 1)) + "] (n_mels x frames at most " +
                      std::to_string(kMaxInputValues) + ", 16 times the paper's 128 x 1024), got " + std::to_string(o.frames));
  });
  t.choice("crop", &O::crop, kCrops, "For inputs longer than frames", "--crop");
  t.choice("pad", &O::pad, kPads, "For inputs shorter than frames", "--pad");
  return t;
}

}  // namespace

const options::Table<FeatureOptions>& feature_options_table() {
  static const options::Table<FeatureOptions> table = make_table();
  return table;
}

void FeatureOptions::validate() const { feature_options_table().validate(*this); }

std::string FeatureOptions::to_json() const { return feature_options_table().to_json(*this).dump(); }

FeatureOptions FeatureOptions::from_json(const std::string& text) {
  FeatureOptions o = feature_options_table().parse(text, "feature options");
  o.validate();
  return o;
}

}  // namespace genrenet
