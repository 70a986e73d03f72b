// The .npy encoding alone, for writers that choose how the bytes reach the disk (genrenet.h has write_npy).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace genrenet::io {

// A float32 array as the bytes of a NumPy .npy file (version 1.0, little endian, C order).
std::string encode_npy(std::span<const float> data, const std::vector<std::int64_t>& shape);

// What a .npy file's header says, checked against its size (read_npy reads the data after it; a reader of a
// few rows seeks to data_offset + row * row bytes). Error naming the file for a header that is not one.
struct NpyLayout {
  std::vector<std::int64_t> shape;
  bool f64 = false;
  std::uint64_t data_offset = 0, count = 0;  // where the values start, and how many there are
};
NpyLayout read_npy_layout(const std::filesystem::path& path);
NpyLayout read_npy_layout(std::ifstream& in, const std::string& name);  // `in` left at the data

}  // namespace genrenet::io
