#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <genrenet/compute.h>

#include "cli/commands.h"

namespace genrenet::cli {

int default_threads() { return resolve_threads(0); }

void FeatureFlags::add_to(CLI::App* cmd) {
  auto* g = cmd->add_option_group("Features", "The feature definition (defaults: the paper's)");
  g->add_option("--feature-config", config_file, "JSON file of feature options (as stored in a model)")
      ->check(CLI::ExistingFile);
  g->add_option("--sample-rate", opts.audio.sample_rate, "Target sample rate in Hz")->capture_default_str();
  g->add_option("--n-fft", opts.n_fft, "FFT and window length (power of two)")->capture_default_str();
  g->add_option("--hop-length", opts.hop_length, "Hop between frames in samples")->capture_default_str();
  g->add_option("--n-mels", opts.n_mels, "Number of mel bands")->capture_default_str();
  g->add_option("--f-min", opts.f_min, "Lowest mel band edge in Hz")->capture_default_str();
  g->add_option("--f-max", opts.f_max, "Highest mel band edge in Hz (0: Nyquist)")->capture_default_str();
  g->add_option("--mel-scale", mel_scale, "htk or slaney")->capture_default_str();
  g->add_option("--mel-norm", mel_norm, "none or slaney (unit-area triangles)")->capture_default_str();
  g->add_option("--top-db", top_db, "Floor the dB values this far below the peak (0: off)");
  g->add_option("--frames", opts.frames, "Model input length in frames")->capture_default_str();
  g->add_option("--crop", crop, "center, random or start, for longer inputs")->capture_default_str();
  g->add_option("--pad", pad, "zero or repeat, for shorter inputs")->capture_default_str();
  g->add_option("--resample-quality", quality, "low, medium, high or very-high")->capture_default_str();
  g->add_option("--resampler", resampler, "polyphase (fast; libsoxr for unusual rate ratios) or soxr")->capture_default_str();
  g->add_option("--max-seconds", opts.audio.max_seconds, "Refuse longer files")->capture_default_str();
  g->add_flag("--no-quantize", no_quantize, "Skip the 16-bit quantisation step");
}

FeatureOptions FeatureFlags::resolve(const CLI::App* cmd, const FeatureOptions& base) const {
  // Start from the config file (if any), then apply the flags the user actually typed, then validate,
  // so that the JSON parser's enum checks and ranges are the only ones.
  nlohmann::json j = nlohmann::json::parse(base.to_json());
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      j = nlohmann::json::parse(FeatureOptions::from_json(ss.str()).to_json());
    } catch (const Error& e) {
      throw Error(config_file, e.what());  // say which file holds the bad option
    }
  }
  auto given = [&](const char* flag) { return cmd->count(flag) > 0; };
  if (given("--sample-rate")) j["sample_rate"] = opts.audio.sample_rate;
  if (given("--n-fft")) j["n_fft"] = opts.n_fft;
  if (given("--hop-length")) j["hop_length"] = opts.hop_length;
  if (given("--n-mels")) j["n_mels"] = opts.n_mels;
  if (given("--f-min")) j["f_min"] = opts.f_min;
  if (given("--f-max")) j["f_max"] = opts.f_max;
  if (given("--mel-scale")) j["mel_scale"] = mel_scale;
  if (given("--mel-norm")) j["mel_norm"] = mel_norm;
  if (given("--top-db")) j["top_db"] = top_db > 0 ? nlohmann::json(top_db) : nlohmann::json(nullptr);
  if (given("--frames")) j["frames"] = opts.frames;
  if (given("--crop")) j["crop"] = crop;
  if (given("--pad")) j["pad"] = pad;
  if (given("--resample-quality")) j["resample_quality"] = quality;
  if (given("--resampler")) j["resampler"] = resampler;
  if (given("--max-seconds")) j["max_seconds"] = opts.audio.max_seconds;
  if (no_quantize) j["quantize_16bit"] = false;
  return FeatureOptions::from_json(j.dump());
}

}  // namespace genrenet::cli
