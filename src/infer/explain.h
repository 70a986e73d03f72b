// Classifier::explain's work: Grad-CAM over every window of a log-mel, stitched into one map.
#pragma once

#include <genrenet/classifier.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet {

// `log_mel_db`: the whole audio's log-mel in dB (FeatureExtractor::log_mel) of `n_samples` samples;
// `model`: the model file's network in fp32, eval mode; `meta`: its classes and feature options;
// `temperature`: the probability reported is softmax(logits / temperature) (the map does not depend on it).
Explanation explain_log_mel(ResNet& model, const ModelFile& meta, const Spectrogram& log_mel_db, std::size_t n_samples,
                            const ExplainOptions& options, double temperature = 1);

}  // namespace genrenet
