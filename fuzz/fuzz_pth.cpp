// PyTorch checkpoints: the zip container (with its central directory read before LibTorch's reader) and
// the restricted unpickler, in both torch.save formats.
#include <cstdint>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const auto path = genrenet::fuzz::input_file(data, size, ".pth");
  try {
    genrenet::read_pth(path);
  } catch (const genrenet::Error&) {
  }
  return 0;
}
