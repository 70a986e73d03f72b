#include "infer/windowed_scorer.h"

#include <algorithm>
#include <cmath>

#include "infer/inference.h"

namespace genrenet {

WindowFrames window_frames(const WindowOptions& w, const FeatureOptions& fo) {
  WindowFrames f;
  f.frame_seconds = static_cast<double>(fo.hop_length) / fo.audio.sample_rate;
  f.window = frame_count(static_cast<size_t>(std::llround(w.window_seconds * fo.audio.sample_rate)), fo.hop_length);
  f.length = std::min(f.window, fo.frames);
  f.hop = std::max(static_cast<int>(std::lround(w.hop_seconds / f.frame_seconds)),
                   (f.length + WindowOptions::kMaxOverlap - 1) / WindowOptions::kMaxOverlap);
  return f;
}

AudioWindows cut_windows(Spectrogram log_mel, const FeatureOptions& fo, int window_frames, int hop_frames, bool windows) {
  AudioWindows out;
  if (!windows && log_mel.n_frames > fo.frames) {
    out.inputs.push_back(input_from_log_mel(std::move(log_mel), fo, CropMode::Center));
    out.starts.push_back(0);
    return out;
  }
  out.inputs = window_inputs(log_mel, fo, window_frames, hop_frames, &out.starts);
  return out;
}

WindowProbabilities at_temperature(const WindowProbabilities& p, double temperature) {
  WindowProbabilities out;
  out.logits = p.logits;
  out.first = p.first;
  out.temperature = temperature;
  if (!p.logits.defined()) return out;
  out.window = torch::softmax(p.logits / temperature, 1);
  // Each window's audio, for sums per audio in one pass (the temperature fit calls this dozens of times).
  const int64_t audios = static_cast<int64_t>(p.first.size()) - 1;
  std::vector<int64_t> owner(static_cast<size_t>(p.logits.size(0)));
  std::vector<float> count(static_cast<size_t>(audios));
  for (int64_t k = 0; k < audios; ++k) {
    if (p.first[k + 1] == p.first[k]) throw Error("windowed scoring", "an audio without windows");
    for (int64_t j = p.first[k]; j < p.first[k + 1]; ++j) owner[j] = k;
    count[k] = static_cast<float>(p.first[k + 1] - p.first[k]);
  }
  const torch::Tensor index = torch::tensor(owner, torch::kInt64);
  const torch::Tensor n = torch::tensor(count);
  out.mean = torch::zeros({audios, p.logits.size(1)}).index_add_(0, index, out.window) / n.unsqueeze(1);
  out.energy = torch::zeros({audios}).index_add_(0, index, -torch::logsumexp(p.logits, 1)) / n;
  return out;
}

WindowProbabilities score_windows(const InferenceNet& net, std::vector<AudioWindows>& audios, int batch,
                                  double temperature) {
  WindowProbabilities p;
  std::vector<Spectrogram> inputs;
  p.first.push_back(0);
  for (auto& a : audios) {
    // Moved, not copied: a chunk of long files holds hundreds of windows.
    for (auto& s : a.inputs) inputs.push_back(std::move(s));
    p.first.push_back(static_cast<int64_t>(inputs.size()));
  }
  if (inputs.empty()) return p;
  p.logits = class_logits(net, inputs, batch);
  return at_temperature(p, temperature);
}

}  // namespace genrenet
