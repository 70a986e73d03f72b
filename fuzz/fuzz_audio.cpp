// Audio decoding from memory (libsndfile's formats and genrenet's checks around them), then the resampler
// and the 16-bit quantiser: the path every upload to `genrenet serve` takes.
#include <cstdint>

#include <genrenet/genrenet.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  genrenet::AudioOptions options;
  options.max_seconds = 30;  // bounds one input's cost, as the server's --max-seconds does
  try {
    genrenet::load_audio({data, size}, "fuzz-input", options);
  } catch (const genrenet::Error&) {
  }
  return 0;
}
