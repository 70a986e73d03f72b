// An untrained genrenet model file with non-default feature options (8 kHz, 48 mels, 320 frames): small and
// fast, and any use of default options instead of the model's own shows as a shape error or another answer.
#pragma once

#include <filesystem>

#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet::test {

inline FeatureOptions small_features() {
  FeatureOptions fo;
  fo.audio.sample_rate = 8000;
  fo.n_fft = 512;
  fo.hop_length = 256;
  fo.n_mels = 48;
  fo.frames = 320;  // 10.2 s
  return fo;
}

inline std::filesystem::path make_small_model_file(const std::filesystem::path& dir) {
  torch::manual_seed(3);
  ModelFile mf;
  mf.model.arch = "resnet18";
  mf.model.num_classes = 4;
  mf.classes = {"blues", "disco", "jazz", "rock"};
  mf.features = small_features();
  mf.weights = state_dict(*make_model(mf.model));
  const auto path = dir / "model.safetensors";
  save_model_file(path, mf);
  return path;
}

}  // namespace genrenet::test
