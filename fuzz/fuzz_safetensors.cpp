// safetensors files and the model file's metadata on top of them (architecture, classes, feature options,
// int8 and confidence calibrations): what `genrenet predict --model` and `serve` read first.
#include <cstdint>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const auto path = genrenet::fuzz::input_file(data, size, ".safetensors");
  try {
    genrenet::read_safetensors(path);
  } catch (const genrenet::Error&) {
  }
  try {
    genrenet::read_model_file(path);
  } catch (const genrenet::Error&) {
  }
  return 0;
}
