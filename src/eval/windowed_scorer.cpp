#include "eval/windowed_scorer.h"

#include <algorithm>
#include <cmath>

#include "eval/inference.h"

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

WindowProbabilities score_windows(const InferenceNet& net, std::vector<AudioWindows>& audios, int batch) {
  WindowProbabilities p;
  std::vector<Spectrogram> inputs;
  p.first.push_back(0);
  for (auto& a : audios) {
    // Moved, not copied: a chunk of long files holds hundreds of windows.
    for (auto& s : a.inputs) inputs.push_back(std::move(s));
    p.first.push_back(static_cast<int64_t>(inputs.size()));
  }
  if (inputs.empty()) return p;
  p.window = class_probabilities(net, inputs, batch);
  std::vector<torch::Tensor> means;
  for (size_t k = 0; k + 1 < p.first.size(); ++k) {
    if (p.first[k + 1] == p.first[k]) throw Error("windowed scoring", "an audio without windows");
    means.push_back(p.window.narrow(0, p.first[k], p.first[k + 1] - p.first[k]).mean(0));
  }
  p.mean = torch::stack(means);
  return p;
}

}  // namespace genrenet
