// load_audio into buffers the calling thread keeps for its next file: for loops over many files that use
// each file's samples at once (features, a feature cache, prediction, calibration). load_audio's fresh
// vectors cost a zero-fill of the resampled clip before the resampler overwrites it (1.9 MB for 30 s) and a
// copy of the decoded one; together ~0.3 ms of a clip's ~4 ms of features (AMD EPYC family 25 model 17).
#pragma once

#include <filesystem>
#include <span>

#include <genrenet/genrenet.h>

namespace genrenet {

struct ReusedAudio {
  std::span<const float> samples;  // mono at sample_rate: valid until this thread's next call below
  int sample_rate = 0;
  int source_sample_rate = 0;
  int source_channels = 0;
  double duration_seconds() const {
    return sample_rate > 0 ? static_cast<double>(samples.size()) / sample_rate : 0.0;
  }
};

// The same samples as load_audio(path, options), with the same checks and errors.
const ReusedAudio& load_audio_reusing_buffers(const std::filesystem::path& path, const AudioOptions& options);

}  // namespace genrenet
