// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw data. Everything
// is checked against the file's size before a byte of data is trusted.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <tuple>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "common/json_number.h"
#include "io/atomic_file.h"

namespace genrenet {
namespace {

struct DtypeName {
  torch::Dtype dtype;
  const char* name;
};
constexpr DtypeName kDtypes[] = {{torch::kFloat32, "F32"}, {torch::kFloat64, "F64"}, {torch::kFloat16, "F16"},
                                 {torch::kBFloat16, "BF16"}, {torch::kInt64, "I64"}, {torch::kInt32, "I32"},
                                 {torch::kInt16, "I16"},     {torch::kInt8, "I8"},   {torch::kUInt8, "U8"},
                                 {torch::kBool, "BOOL"}};

// One tensor of the header: its name, type, shape and byte range in the data, each checked against the
// file's data before anything is allocated.
struct TensorEntry {
  std::string key;
  torch::Dtype dtype;
  std::vector<int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

TensorEntry parse_entry(const std::string& name, const std::string& key, const nlohmann::json& v, std::uint64_t data_len) {
  const std::string dt = v.at("dtype").get<std::string>();
  auto it = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](auto& d) { return dt == d.name; });
  if (it == std::end(kDtypes)) throw Error(name, "tensor " + key + ": unsupported dtype " + dt);
  TensorEntry e{key, it->dtype, json_whole_list<int64_t>(v.at("shape"), name + ": tensor " + key + ": shape")};
  const auto offsets = json_whole_list<std::uint64_t>(v.at("data_offsets"), name + ": tensor " + key + ": data_offsets");
  // The element count is bounded by the file's data before any product can overflow.
  std::uint64_t numel = 1;
  for (auto d : e.shape) {
    if (d < 0) throw Error(name, "tensor " + key + ": bad shape");
    if (d != 0 && numel > data_len / static_cast<std::uint64_t>(d) + 1)
      throw Error(name, "tensor " + key + ": its shape needs more bytes than the file holds");
    numel *= static_cast<std::uint64_t>(d);
  }
  const std::uint64_t elem = torch::elementSize(e.dtype);
  if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_len || offsets[1] - offsets[0] != numel * elem)
    throw Error(name, "tensor " + key + ": data offsets do not match its shape or lie outside the file");
  e.begin = offsets[0];
  e.end = offsets[1];
  return e;
}

// The format's rule: the tensors' byte ranges tile the data exactly, with neither overlaps nor holes (so
// that the tensors together never need more memory than the file's size).
void check_tiling(const std::string& name, std::vector<TensorEntry> entries, std::uint64_t data_len) {
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  std::uint64_t end = 0;
  for (const TensorEntry& e : entries) {
    if (e.begin < end)
      throw Error(name, "two tensors' data overlap (bytes " + std::to_string(e.begin) + " to " + std::to_string(end) + ")");
    if (e.begin > end)
      throw Error(name, "a hole in the data (bytes " + std::to_string(end) + " to " + std::to_string(e.begin) + " belong to no tensor)");
    end = e.end;
  }
  if (end != data_len)
    throw Error(name, std::to_string(data_len - end) + " bytes after the last tensor's data belong to no tensor");
}

}  // namespace

WeightFile read_safetensors(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(name, "cannot open");
  in.seekg(0, std::ios::end);
  const std::uint64_t size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char len_bytes[8];
  if (size < 8 || !in.read(reinterpret_cast<char*>(len_bytes), 8)) throw Error(name, "not a safetensors file (too short)");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len == 0 || header_len > (100u << 20) || header_len > size - 8)
    throw Error(name, "not a safetensors file (header length " + std::to_string(header_len) + ")");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw Error(name, std::string("malformed safetensors header (") + e.what() + ")");
  }
  if (!j.is_object()) throw Error(name, "malformed safetensors header (not an object)");
  const std::uint64_t data_start = 8 + header_len, data_len = size - data_start;
  WeightFile out;
  std::vector<TensorEntry> entries;
  for (auto& [key, v] : j.items()) {
    try {
      if (key == "__metadata__") {
        for (auto& [mk, mv] : v.items()) out.metadata[mk] = mv.get<std::string>();
        continue;
      }
      entries.push_back(parse_entry(name, key, v, data_len));
    } catch (const nlohmann::json::exception& e) {
      throw Error(name, "tensor " + key + ": malformed entry (" + e.what() + ")");
    }
  }
  check_tiling(name, entries, data_len);
  // Only then is memory allocated, and each tensor's bytes are read straight into it: a buffer of the whole
  // data, zero-filled and then copied tensor by tensor, touched three times the memory, and fresh pages are
  // most of what loading a model costs on a virtual machine (docs/PERFORMANCE.md).
  for (const TensorEntry& e : entries) {
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    in.seekg(static_cast<std::streamoff>(data_start + e.begin));
    if (e.end > e.begin && !in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin)))
      throw Error(name, "truncated (tensor " + e.key + ")");
    out.tensors[e.key] = t;
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  std::uint64_t offset = 0;
  for (auto& [key, t0] : tensors) {
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    auto it = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](auto& d) { return t.scalar_type() == d.dtype; });
    if (it == std::end(kDtypes)) throw Error(path.string(), "tensor " + key + ": dtype not storable in safetensors");
    const std::uint64_t bytes = t.numel() * t.element_size();
    header[key] = {{"dtype", it->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(t);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((static_cast<std::uint64_t>(h.size()) >> (8 * i)) & 0xff);
  bytes += h;
  bytes.reserve(bytes.size() + offset);
  for (auto& t : contiguous) bytes.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  io::write_file_atomically(path, bytes);
}

WeightFile read_weights(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error(path.string(), "no such file");
  if (path.extension() == ".safetensors") return read_safetensors(path);
  return WeightFile{read_pth(path), {}};
}

}  // namespace genrenet
