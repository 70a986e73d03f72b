#include <sndfile.h>

#include <genrenet/genrenet.h>

#include "io/atomic_file.h"

namespace genrenet {

void write_wav(const std::filesystem::path& path, std::span<const float> interleaved, int sample_rate,
               int channels, bool float_samples) {
  if (channels < 1 || interleaved.size() % channels != 0)
    throw Error(path.string(), "sample count is not a multiple of the channel count");
  io::write_atomically(path, [&](const std::filesystem::path& tmp) {
    SF_INFO info{};
    info.samplerate = sample_rate;
    info.channels = channels;
    info.format = SF_FORMAT_WAV | (float_samples ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16);
    SNDFILE* f = sf_open(tmp.c_str(), SFM_WRITE, &info);
    if (!f) throw Error(path.string(), std::string("cannot write WAV (") + sf_strerror(nullptr) + ")");
    // Clip rather than wrap when converting to 16-bit.
    sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
    sf_count_t frames = static_cast<sf_count_t>(interleaved.size() / channels);
    sf_count_t written = sf_writef_float(f, interleaved.data(), frames);
    sf_close(f);
    if (written != frames) throw Error(path.string(), "short write (disk full?)");
  });
}

}  // namespace genrenet
