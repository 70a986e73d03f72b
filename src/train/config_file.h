// Reading training configs: .json as it is, .toml turned into the same JSON (one set of names and checks).
#pragma once

#include <filesystem>
#include <string>

namespace genrenet {

std::string config_file_as_json(const std::filesystem::path& path);

}  // namespace genrenet
