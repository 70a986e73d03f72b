#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace genrenet {

// Lower-case hex SHA-256 (OpenSSL's libcrypto).
std::string sha256_hex(std::string_view bytes);

}  // namespace genrenet
