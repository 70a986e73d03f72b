// The .npy encoding alone, for writers that choose how the bytes reach the disk (genrenet.h has write_npy).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace genrenet::io {

// A float32 array as the bytes of a NumPy .npy file (version 1.0, little endian, C order).
std::string encode_npy(std::span<const float> data, const std::vector<std::int64_t>& shape);

}  // namespace genrenet::io
