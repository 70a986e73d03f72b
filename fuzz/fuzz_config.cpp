// Configuration text: the feature options (also a model file's metadata), the training config as JSON and
// as TOML, and the window options of a classification. The first byte chooses the parser.
#include <cstdint>
#include <string>

#include <genrenet/classifier.h>
#include <genrenet/train.h>

#include "fuzz_util.h"
#include "train/config_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0:
        genrenet::FeatureOptions::from_json(text);
        break;
      case 1:
        genrenet::TrainConfig::from_json(text).validate();
        break;
      default:
        genrenet::TrainConfig::from_json(genrenet::config_file_as_json(genrenet::fuzz::input_file(data + 1, size - 1, ".toml")))
            .validate();
    }
  } catch (const genrenet::Error&) {
  }
  return 0;
}
