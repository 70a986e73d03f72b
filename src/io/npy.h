// The .npy encoding, for writers that choose how the bytes reach the disk (genrenet.h has write_npy).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace genrenet::io {

// The header of a NumPy .npy file (version 1.0, little endian, C order) of float32 values in `shape`; the
// values' bytes follow it. Error if `count` values do not fill the shape.
std::string npy_header(const std::vector<std::int64_t>& shape, std::size_t count);

// write_npy with the choice of write_file_atomically's `synced` (false: many files, one sync at the end).
void write_npy_file(const std::filesystem::path& path, std::span<const float> data,
                    const std::vector<std::int64_t>& shape, bool synced);

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
