// .npy arrays: `genrenet features` output read back, and every feature-cache entry.
#include <cstdint>

#include <genrenet/genrenet.h>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const auto path = genrenet::fuzz::input_file(data, size, ".npy");
  try {
    genrenet::read_npy(path);
  } catch (const genrenet::Error&) {
  }
  return 0;
}
