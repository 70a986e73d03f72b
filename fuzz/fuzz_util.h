// Shared by the fuzz targets: parsers that read files get the input through a file in memory-backed /dev/shm
// (or TMPDIR); every genrenet::Error is an accepted answer, anything else escaping is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace genrenet::fuzz {

// A file holding `bytes`, named with `extension` (some readers choose the format by it), one per process.
inline std::filesystem::path input_file(const std::uint8_t* data, size_t size, const std::string& extension) {
  static const std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const auto path = dir / ("genrenet-fuzz-" + std::to_string(::getpid()) + extension);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Writes `bytes` to `path` (a file of a multi-file input).
inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace genrenet::fuzz
