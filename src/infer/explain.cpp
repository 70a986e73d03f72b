// Grad-CAM over a whole audio: its windows (as classify cuts them) through the trunk once, the genre chosen
// from their averaged fp32 probabilities, each window's class-activation map placed back at its frames and
// averaged where windows overlap, then scaled to [0, 1].
#include "infer/explain.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "infer/grad_cam.h"
#include "infer/windowed_scorer.h"
#include "features/mel_filterbank.h"

namespace genrenet {
namespace {

constexpr int kBands = 8;         // frequency bands of band_mass
constexpr int kChunk = 16;        // windows through the trunk at once (bounds memory on long files)

// The index of the genre asked for; -1 for the most probable one, known only once the windows are scored.
int class_index(const ModelFile& meta, const std::string& genre) {
  if (genre.empty()) return -1;
  for (size_t i = 0; i < meta.classes.size(); ++i)
    if (meta.classes[i] == genre) return static_cast<int>(i);
  std::string names;
  for (auto& c : meta.classes) names += (names.empty() ? "" : ", ") + c;
  throw Error("genre", "\"" + genre + "\" is not one of the model's genres (" + names + ")");
}

// The Hz edges of kBands groups of neighbouring mel bands (band m spans mel edges m .. m + 2).
std::vector<std::pair<double, double>> band_edges(const FeatureOptions& fo, int bands) {
  const double m_min = features::hz_to_mel(fo.f_min, fo.mel_scale);
  const double m_max = features::hz_to_mel(fo.effective_f_max(), fo.mel_scale);
  const double step = (m_max - m_min) / (fo.n_mels + 1);
  std::vector<std::pair<double, double>> edges;
  for (int b = 0; b < bands; ++b) {
    const int first = b * fo.n_mels / bands, last = (b + 1) * fo.n_mels / bands - 1;
    edges.emplace_back(features::mel_to_hz(m_min + step * first, fo.mel_scale),
                       features::mel_to_hz(m_min + step * (last + 2), fo.mel_scale));
  }
  return edges;
}

// Shares of a window's map [n_mels, covered] per second and per band group.
WindowExplanation masses(const torch::Tensor& map, double start_frame, const WindowFrames& f, int bands) {
  WindowExplanation w;
  const int64_t mels = map.size(0), covered = map.size(1);
  w.start_seconds = start_frame * f.frame_seconds;
  w.end_seconds = (start_frame + covered) * f.frame_seconds;
  const double total = map.sum().item<double>();
  const torch::Tensor per_frame = map.sum(0);
  const int64_t per_second = std::max<int64_t>(1, std::llround(1.0 / f.frame_seconds));
  for (int64_t s = 0; s < covered; s += per_second)
    w.time_mass.push_back(total > 0 ? static_cast<float>(per_frame.narrow(0, s, std::min(per_second, covered - s)).sum().item<double>() / total) : 0.f);
  const torch::Tensor per_mel = map.sum(1);
  for (int b = 0; b < bands; ++b) {
    const int64_t first = b * mels / bands, end = (b + 1) * mels / bands;
    w.band_mass.push_back(total > 0 ? static_cast<float>(per_mel.narrow(0, first, end - first).sum().item<double>() / total) : 0.f);
  }
  return w;
}

}  // namespace

Explanation explain_log_mel(ResNet& model, const ModelFile& meta, const Spectrogram& log_mel_db, std::size_t n_samples,
                            const ExplainOptions& o, double temperature) {
  int c = class_index(meta, o.genre);  // an unknown genre is refused before any network work
  const FeatureOptions& fo = meta.features;
  const WindowFrames f = window_frames(o.windows, fo);
  const AudioWindows win = cut_windows(log_mel_db, fo, f.window, f.hop, /*windows=*/true);
  const int channels = meta.model.input_channels;
  // The trunk once per window; the genre from the windows' mean probability.
  std::vector<torch::Tensor> feats, logits;
  for (size_t b = 0; b < win.inputs.size(); b += kChunk) {
    const size_t n = std::min<size_t>(kChunk, win.inputs.size() - b);
    feats.push_back(layer4_features(model, stack_spectrograms(std::span(win.inputs).subspan(b, n), channels)));
    torch::NoGradGuard no_grad;
    logits.push_back(model->head(feats.back()));
  }
  const torch::Tensor mean_probs = (torch::cat(logits) / temperature).softmax(1).mean(0);
  if (c < 0) c = static_cast<int>(mean_probs.argmax().item<int64_t>());
  Explanation e;
  e.genre = meta.classes[c];
  e.probability = mean_probs[c].item<float>();
  e.duration_seconds = static_cast<double>(n_samples) / fo.audio.sample_rate;
  e.bands = band_edges(fo, std::min(kBands, fo.n_mels));
  // Each window's map back at its frames; averaged where windows overlap.
  const int64_t mels = log_mel_db.n_mels, frames = log_mel_db.n_frames;
  torch::Tensor sum = torch::zeros({mels, frames}), count = torch::zeros({frames});
  size_t k = 0;
  for (const torch::Tensor& a : feats) {
    const torch::Tensor maps =
        grad_cam_of_features(model, a, std::vector<int64_t>(a.size(0), c), fo.n_mels, fo.frames).maps;
    for (int64_t j = 0; j < maps.size(0); ++j, ++k) {
      const int64_t start = win.starts[k];
      const int64_t covered = std::min<int64_t>(frames <= fo.frames ? frames : f.length, frames - start);
      const torch::Tensor part = maps[j].narrow(1, 0, covered);
      sum.narrow(1, start, covered).add_(part);
      count.narrow(0, start, covered).add_(1);
      e.windows.push_back(masses(part, static_cast<double>(start), f, static_cast<int>(e.bands.size())));
    }
  }
  torch::Tensor map = sum / count.clamp_min(1);
  const double peak = map.max().item<double>();
  if (peak > 0) map = map / peak;
  map = map.contiguous();
  e.map = {static_cast<int>(mels), static_cast<int>(frames), std::vector<float>(map.data_ptr<float>(), map.data_ptr<float>() + map.numel())};
  e.log_mel = log_mel_db;
  if (fo.standardize) standardize(e.log_mel);
  return e;
}

std::string Explanation::to_json() const {
  nlohmann::json bands_json = nlohmann::json::array(), windows_json = nlohmann::json::array();
  for (auto& [lo, hi] : bands) bands_json.push_back({{"low_hz", lo}, {"high_hz", hi}});
  for (auto& w : windows)
    windows_json.push_back({{"start_s", w.start_seconds}, {"end_s", w.end_seconds}, {"time_mass", w.time_mass},
                            {"band_mass", w.band_mass}});
  return nlohmann::json({{"genre", genre},
                         {"probability", probability},
                         {"duration_s", duration_seconds},
                         {"bands", bands_json},
                         {"windows", windows_json}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string explanation_png(const Explanation& e, const FeatureOptions& features, const FigureOptions& fig) {
  FigureOptions f = fig;
  if (f.title.empty()) {
    char title[256];
    std::snprintf(title, sizeof title, "Why %s (p = %.2f): Grad-CAM over the log-mel spectrogram", e.genre.c_str(),
                  e.probability);
    f.title = title;
  }
  return spectrogram_overlay_png(e.log_mel, e.map, features, "Grad-CAM", f);
}

}  // namespace genrenet
