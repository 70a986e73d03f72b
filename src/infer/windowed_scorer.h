// Test-time averaging over windows, the one rule for evaluate, predict and serve: a log-mel longer than the
// model input is cut into windows (window_inputs), every window of every audio goes through the network in
// full batches, and an audio's probabilities are the mean of its windows'.
#pragma once

#include <vector>

#include <genrenet/classifier.h>
#include <genrenet/genrenet.h>
#include <genrenet/inference.h>

namespace genrenet {

// WindowOptions (seconds) in frames for these features: the window asked for, the part of it a model input
// holds (at most the input's length), and the hop (at least length / kMaxOverlap: WindowOptions::validate's
// bound, in frames).
struct WindowFrames {
  int window = 0, length = 0, hop = 0;
  double frame_seconds = 0;
};
WindowFrames window_frames(const WindowOptions& w, const FeatureOptions& features);

// One audio's model inputs and the first frame of each.
struct AudioWindows {
  std::vector<Spectrogram> inputs;
  std::vector<int> starts;
};

// The windows of a whole log-mel (dB): `window_frames` long (at most the model input) every `hop_frames`, the
// last one ending at the end; audio no longer than the model input is one padded input, as in training. With
// `windows` false, audio longer than the model input is one centre crop instead.
AudioWindows cut_windows(Spectrogram log_mel, const FeatureOptions& features, int window_frames, int hop_frames,
                         bool windows = true);

// Every window of `audios` (each with at least one; their inputs are moved out) through `net`, `batch` at a
// time, as logits; the probabilities at a temperature (the model's calibration, 1 for the raw softmax).
// Row k of `mean` is audio k's mean probability; `window` has every window's, audio by audio, the windows
// of audio k in rows [first[k], first[k + 1]).
struct WindowProbabilities {
  torch::Tensor logits;          // [windows, classes]
  std::vector<int64_t> first;    // audios + 1 entries
  double temperature = 1;
  torch::Tensor window;          // [windows, classes]: softmax(logits / temperature)
  torch::Tensor mean;            // [audios, classes]
  torch::Tensor energy;          // [audios]: the mean over its windows of -logsumexp(logits) (temperature 1)
};
WindowProbabilities score_windows(const InferenceNet& net, std::vector<AudioWindows>& audios, int batch,
                                  double temperature = 1);
// The same windows' probabilities at another temperature (window, mean and energy recomputed from logits).
WindowProbabilities at_temperature(const WindowProbabilities& p, double temperature);

}  // namespace genrenet
