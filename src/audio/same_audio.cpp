// Sample-exact comparison of two audio files, block by block.
#include "audio/same_audio.h"

#include <vector>

#include "audio/sndfile_handle.h"

namespace genrenet {
namespace {

SndfileHandle open_for_reading(const std::filesystem::path& p, SF_INFO& info, std::string& error) {
  info = {};
  SndfileHandle f(sf_open(p.c_str(), SFM_READ, &info));
  if (!f) error = p.string() + " cannot be decoded: " + sf_strerror(nullptr);
  return f;
}

}  // namespace

std::string audio_difference(const std::filesystem::path& a, const std::filesystem::path& b) {
  SF_INFO ia, ib;
  std::string error;
  const SndfileHandle fa = open_for_reading(a, ia, error);
  if (!fa) return error;
  const SndfileHandle fb = open_for_reading(b, ib, error);
  if (!fb) return error;
  if (ia.channels != ib.channels || ia.samplerate != ib.samplerate)
    return "the channels or the sample rate differ (" + std::to_string(ia.channels) + " at " +
           std::to_string(ia.samplerate) + " Hz, " + std::to_string(ib.channels) + " at " + std::to_string(ib.samplerate) + " Hz)";
  // Doubles hold every integer sample format exactly (32-bit PCM included), and floats as they are.
  constexpr sf_count_t kBlock = 16384;
  std::vector<double> xa(static_cast<size_t>(kBlock * ia.channels)), xb(xa.size());
  for (sf_count_t frame = 0;;) {
    const sf_count_t na = sf_readf_double(fa.get(), xa.data(), kBlock);
    const sf_count_t nb = sf_readf_double(fb.get(), xb.data(), kBlock);
    const sf_count_t n = std::min(na, nb);
    for (sf_count_t i = 0; i < n * ia.channels; ++i)
      if (xa[static_cast<size_t>(i)] != xb[static_cast<size_t>(i)])
        return "the samples differ from frame " + std::to_string(frame + i / ia.channels);
    frame += n;
    if (na != nb) return "the lengths differ (one ends after " + std::to_string(frame) + " frames)";
    if (na < kBlock) return "";
  }
}

}  // namespace genrenet
