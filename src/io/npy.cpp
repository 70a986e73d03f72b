// NumPy .npy files (format version 1.0): a magic string, a Python-dict header, the raw little-endian data.
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <genrenet/genrenet.h>

#include "io/atomic_file.h"
#include "io/npy.h"

namespace genrenet {

std::string io::encode_npy(std::span<const float> data, const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (auto d : shape) count *= d;
  if (count != static_cast<std::int64_t>(data.size())) throw Error("npy", "shape does not match the number of values");
  std::string dims;
  for (auto d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();  // (n,) for one axis, (a,b) for more
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // The header is padded with spaces and a newline so that the data starts on a 64-byte boundary.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  uint16_t len = static_cast<uint16_t>(header.size());
  bytes += static_cast<char>(len & 0xff);
  bytes += static_cast<char>(len >> 8);
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  return bytes;
}

void write_npy(const std::filesystem::path& path, std::span<const float> data,
               const std::vector<std::int64_t>& shape) {
  std::string bytes;
  try {
    bytes = io::encode_npy(data, shape);
  } catch (const Error& e) {
    throw Error(path.string(), e.reason());
  }
  io::write_file_atomically(path, bytes);
}

NpyArray read_npy(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(name, "cannot open");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw Error(name, "not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  }
  if (!in || hlen > (1u << 20)) throw Error(name, "bad .npy header");
  std::string header(hlen, '\0');
  in.read(header.data(), hlen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([<|]f[48])'")))
    throw Error(name, "only little-endian float32/float64 arrays are supported");
  const bool f64 = m[1].str().back() == '8';
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True")))
    throw Error(name, "Fortran-ordered arrays are not supported");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw Error(name, "no shape");
  NpyArray arr;
  std::stringstream dims(m[1].str());
  std::string tok;
  size_t count = 1;
  while (std::getline(dims, tok, ',')) {
    if (tok.find_first_not_of(" ") == std::string::npos) continue;
    arr.shape.push_back(std::stoll(tok));
    count *= static_cast<size_t>(arr.shape.back());
  }
  if (count > (size_t(1) << 32)) throw Error(name, "array too large");
  arr.data.resize(count);
  if (f64) {
    std::vector<double> tmp(count);
    in.read(reinterpret_cast<char*>(tmp.data()), count * sizeof(double));
    std::copy(tmp.begin(), tmp.end(), arr.data.begin());
  } else {
    in.read(reinterpret_cast<char*>(arr.data.data()), count * sizeof(float));
  }
  if (!in) throw Error(name, "truncated .npy data");
  return arr;
}

}  // namespace genrenet
