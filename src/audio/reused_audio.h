// load_audio into buffers the calling thread keeps for its next file: for loops over many files that use
// each file's samples at once (features, a feature cache, prediction, calibration). load_audio's result is
// a fresh vector, zero-filled before the resampler overwrites it (1.9 MB for 30 s); here neither buffer is
// allocated or zero-filled per clip. A profile put 3% of a clip of `features` in that zero-fill; the loop
// ran ~1% faster without it (the zero-fill had also brought the lines into cache for the resampler's
// stores). Each thread keeps two buffers of up to 32 MB; larger ones (long recordings) are given back.
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
