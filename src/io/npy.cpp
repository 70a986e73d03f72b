// NumPy .npy files (format version 1.0): a magic string, a Python-dict header, the raw little-endian data.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include <genrenet/genrenet.h>

#include "io/atomic_file.h"
#include "io/npy.h"

namespace genrenet {

std::string io::npy_header(const std::vector<std::int64_t>& shape, std::size_t count) {
  std::int64_t expected = 1;
  for (auto d : shape) expected *= d;
  if (expected != static_cast<std::int64_t>(count)) throw Error("npy", "shape does not match the number of values");
  std::string dims;
  for (auto d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();  // (n,) for one axis, (a,b) for more
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // The header is padded with spaces and a newline so that the data starts on a 64-byte boundary.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  uint16_t len = static_cast<uint16_t>(dict.size());
  bytes += static_cast<char>(len & 0xff);
  bytes += static_cast<char>(len >> 8);
  return bytes + dict;
}

void io::write_npy_file(const std::filesystem::path& path, std::span<const float> data,
                        const std::vector<std::int64_t>& shape, bool synced) {
  std::string header;
  try {
    header = io::npy_header(shape, data.size());
  } catch (const Error& e) {
    throw Error(path.string(), e.reason());
  }
  // The values go to the file from where they are: a model input is 512 KB, and copying it behind the
  // header first was a tenth of what `genrenet features` spends writing a file.
  const std::string_view parts[] = {header, {reinterpret_cast<const char*>(data.data()), data.size_bytes()}};
  io::write_file_atomically(path, parts, synced);
}

void write_npy(const std::filesystem::path& path, std::span<const float> data,
               const std::vector<std::int64_t>& shape) {
  io::write_npy_file(path, data, shape, /*synced=*/true);
}

namespace io {

NpyLayout read_npy_layout(std::ifstream& in, const std::string& name) {
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
  // NumPy writes headers of a few dozen bytes (at most 64 KiB in format 1.0).
  if (!in || hlen > (1u << 16)) throw Error(name, "bad .npy header");
  std::string header(hlen, '\0');
  in.read(header.data(), hlen);
  if (!in) throw Error(name, "bad .npy header");
  // The header is a Python dict literal; its three values are found by plain search (std::regex recursed
  // once per character and overflowed the stack on a long header: fuzz_npy).
  auto value_of = [&](const std::string& key) {
    const size_t at = header.find("'" + key + "':");
    if (at == std::string::npos) throw Error(name, "bad .npy header (no " + key + ")");
    const size_t start = header.find_first_not_of(' ', at + key.size() + 3);
    if (start == std::string::npos) throw Error(name, "bad .npy header (" + key + ")");
    const char open = header[start];
    const size_t end = open == '\'' ? header.find('\'', start + 1) : open == '(' ? header.find(')', start + 1)
                                                                                 : header.find_first_of(",}", start);
    if (end == std::string::npos) throw Error(name, "bad .npy header (" + key + ")");
    return open == '\'' || open == '(' ? header.substr(start + 1, end - start - 1) : header.substr(start, end - start);
  };
  const std::string descr = value_of("descr");
  if (descr != "<f4" && descr != "<f8" && descr != "|f4" && descr != "|f8")
    throw Error(name, "only little-endian float32/float64 arrays are supported");
  NpyLayout layout;
  layout.f64 = descr.back() == '8';
  if (value_of("fortran_order").rfind("True", 0) == 0) throw Error(name, "Fortran-ordered arrays are not supported");
  const std::string shape = value_of("shape");
  std::stringstream dims(shape);
  std::string tok;
  // Each dimension a plain non-negative number, their product what the rest of the file holds: checked
  // before allocating, so that a damaged header can neither throw from a number parser nor ask for
  // gigabytes (found by fuzz_npy).
  std::uint64_t count = 1;
  const std::uint64_t element = layout.f64 ? sizeof(double) : sizeof(float);
  const auto data_start = in.tellg();
  layout.data_offset = static_cast<std::uint64_t>(data_start);
  in.seekg(0, std::ios::end);
  const std::uint64_t available = static_cast<std::uint64_t>(in.tellg() - data_start);
  in.seekg(data_start);
  while (std::getline(dims, tok, ',')) {
    const size_t first = tok.find_first_not_of(" "), last = tok.find_last_not_of(" ");
    if (first == std::string::npos) continue;
    const std::string digits = tok.substr(first, last - first + 1);
    if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
      throw Error(name, "bad .npy shape \"" + shape + "\"");
    layout.shape.push_back(std::stoll(digits));
    const auto d = static_cast<std::uint64_t>(layout.shape.back());
    if (d != 0 && count > available / element / d) throw Error(name, "truncated .npy data (the shape needs more than the file holds)");
    count *= d;
  }
  if (count * element > available) throw Error(name, "truncated .npy data (the shape needs more than the file holds)");
  layout.count = count;
  return layout;
}

NpyLayout read_npy_layout(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "cannot open");
  return read_npy_layout(in, path.string());
}

}  // namespace io

NpyArray read_npy(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(name, "cannot open");
  const io::NpyLayout layout = io::read_npy_layout(in, name);
  const bool f64 = layout.f64;
  const std::uint64_t count = layout.count;
  NpyArray arr;
  arr.shape = layout.shape;
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
