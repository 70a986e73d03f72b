#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace genrenet {

// Lower-case hex SHA-256 (OpenSSL's libcrypto).
std::string sha256_hex(std::string_view bytes);
// Of a file's bytes (also public, in genrenet/model.h).
std::string sha256_file(const std::filesystem::path& path);

}  // namespace genrenet
