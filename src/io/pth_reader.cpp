// PyTorch checkpoints (.pth/.pt) without Python: a restricted unpickler that understands exactly what a
// state dict is made of — dicts (OrderedDict too, with its _metadata), lists, tuples, numbers, strings,
// storages and the tensor-rebuild functions — and refuses every other global, since Python's pickle
// would import and call it. Both torch.save formats are read:
//  - zip (PyTorch >= 1.6): data.pkl plus one record per storage (read with LibTorch's PyTorchStreamReader);
//  - legacy: magic, protocol and sys-info pickles, the main pickle, the storage keys, then each storage
//    as an int64 element count and its raw bytes.
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet {
namespace {

struct Storage {
  torch::Dtype dtype;
  int64_t numel = 0;
  torch::Tensor data;  // 1-D, numel elements
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum Kind { None, Bool, Int, BigInt, Float, String, Tuple, List, Dict, Global, Tensor, StorageRef, Mark } kind = None;
  int64_t i = 0;
  double f = 0;
  std::string s;  // String, BigInt (raw little-endian bytes), Global ("module.name")
  std::vector<ValuePtr> items;                          // Tuple, List
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;   // Dict, in insertion order
  torch::Tensor tensor;
  std::shared_ptr<Storage> storage;
};

ValuePtr make(Value::Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

const std::unordered_map<std::string, torch::Dtype>& storage_types() {
  static const std::unordered_map<std::string, torch::Dtype> m = {
      {"torch.FloatStorage", torch::kFloat32}, {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},  {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},    {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},   {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},    {"torch.BoolStorage", torch::kBool}};
  return m;
}

bool allowed_global(const std::string& g) {
  return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
         g == "torch._utils._rebuild_tensor" || g == "torch._utils._rebuild_parameter" ||
         storage_types().count(g);
}

class Unpickler {
 public:
  using PersistentLoad = std::function<std::shared_ptr<Storage>(const ValuePtr& pid)>;
  Unpickler(std::string_view data, std::string file, PersistentLoad load)
      : data_(data), file_(std::move(file)), load_(std::move(load)) {}

  size_t position() const { return pos_; }

  ValuePtr run() {
    for (;;) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;           // PROTO
        case 0x95: bytes(8); break;       // FRAME
        case '.': return pop();           // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case ')': push(make(Value::Tuple)); break;
        case ']': push(make(Value::List)); break;
        case '}': push(make(Value::Dict)); break;
        case 't': push(tuple_of(pop_mark())); break;
        case 0x85: { auto a = pop(); push(tuple_of({a})); break; }
        case 0x86: { auto b = pop(), a = pop(); push(tuple_of({a, b})); break; }
        case 0x87: { auto c = pop(), b = pop(), a = pop(); push(tuple_of({a, b, c})); break; }
        case 'l': { auto v = make(Value::List); v->items = pop_mark(); push(v); break; }
        case 'd': { auto v = make(Value::Dict); auto xs = pop_mark(); set_items(v, xs); push(v); break; }
        case 'a': { auto x = pop(); add_items(expect(top(), Value::List, "APPEND"), {x}); break; }
        case 'e': { auto xs = pop_mark(); add_items(expect(top(), Value::List, "APPENDS"), xs); break; }
        case 's': { auto v = pop(), k = pop(); set_items(expect(top(), Value::Dict, "SETITEM"), {k, v}); break; }
        case 'u': { auto xs = pop_mark(); set_items(expect(top(), Value::Dict, "SETITEMS"), xs); break; }
        case 'q': memo_[u8()] = top(); break;
        case 'r': memo_[u32()] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': push(memo(u8())); break;
        case 'j': push(memo(u32())); break;
        case 'J': { auto v = make(Value::Int); v->i = static_cast<int32_t>(u32()); push(v); break; }
        case 'K': { auto v = make(Value::Int); v->i = u8(); push(v); break; }
        case 'M': { auto v = make(Value::Int); v->i = u16(); push(v); break; }
        case 0x8a: push(long_from(bytes(u8()))); break;   // LONG1
        case 0x8b: push(long_from(bytes(u32()))); break;  // LONG4
        case 'G': {
          std::string_view b = bytes(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(b[k]);  // big endian
          auto v = make(Value::Float);
          std::memcpy(&v->f, &bits, 8);
          push(v);
          break;
        }
        case 'X': push(string_of(bytes(u32()))); break;     // BINUNICODE
        case 0x8c: push(string_of(bytes(u8()))); break;     // SHORT_BINUNICODE
        case 0x8d: push(string_of(bytes(u64()))); break;    // BINUNICODE8
        case 'T': push(string_of(bytes(u32()))); break;     // BINSTRING
        case 'U': push(string_of(bytes(u8()))); break;      // SHORT_BINSTRING
        case 'B': push(string_of(bytes(u32()))); break;     // BINBYTES
        case 'C': push(string_of(bytes(u8()))); break;      // SHORT_BINBYTES
        case 'N': push(make(Value::None)); break;
        case 0x88: { auto v = make(Value::Bool); v->i = 1; push(v); break; }
        case 0x89: push(make(Value::Bool)); break;
        case 'c': {
          std::string module = line(), name = line();
          push(global(module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = expect(pop(), Value::String, "STACK_GLOBAL"), module = expect(pop(), Value::String, "STACK_GLOBAL");
          push(global(module->s + "." + name->s));
          break;
        }
        case 'R': { auto args = expect(pop(), Value::Tuple, "REDUCE"); auto fn = pop(); push(reduce(fn, args)); break; }
        case 'b': {  // BUILD: only OrderedDict's state (its _metadata), which a state dict does not need
          pop();
          expect(top(), Value::Dict, "BUILD");
          break;
        }
        case 'Q': { auto pid = pop(); auto v = make(Value::StorageRef); v->storage = load_(pid); push(v); break; }
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        default: {
          char buf[80];
          std::snprintf(buf, sizeof buf, "unsupported pickle opcode 0x%02x at byte %zu", op, pos_ - 1);
          fail(buf);
        }
      }
    }
  }

  [[noreturn]] void fail(const std::string& why) const { throw Error(file_, "cannot read checkpoint: " + why); }

 private:
  uint8_t u8() {
    if (pos_ >= data_.size()) fail("the pickle ends early (truncated file?)");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string_view bytes(uint64_t n) {
    if (n > data_.size() - pos_) fail("the pickle ends early (truncated file?)");
    auto b = data_.substr(pos_, n);
    pos_ += n;
    return b;
  }
  uint64_t le(int n) {
    auto b = bytes(n);
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(b[k]);
    return v;
  }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  std::string line() {
    auto end = data_.find('\n', pos_);
    if (end == std::string_view::npos) fail("the pickle ends early (truncated file?)");
    std::string s(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  void push(ValuePtr v) {
    if (stack_.size() > 10'000'000) fail("pickle stack too deep");
    stack_.push_back(std::move(v));
  }
  ValuePtr pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("malformed pickle (stack underflow)");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.empty()) fail("malformed pickle (empty stack)");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) fail("malformed pickle (no mark)");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> xs(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return xs;
  }
  ValuePtr memo(uint64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("malformed pickle (unknown memo entry)");
    return it->second;
  }
  ValuePtr expect(const ValuePtr& v, Value::Kind k, const char* op) const {
    if (v->kind != k) fail(std::string("malformed pickle (unexpected operand of ") + op + ")");
    return v;
  }
  static ValuePtr tuple_of(std::vector<ValuePtr> xs) {
    auto v = make(Value::Tuple);
    v->items = std::move(xs);
    return v;
  }
  static ValuePtr string_of(std::string_view b) {
    auto v = make(Value::String);
    v->s = b;
    return v;
  }
  static ValuePtr long_from(std::string_view b) {
    if (b.size() <= 8) {
      uint64_t u = 0;
      for (int k = static_cast<int>(b.size()) - 1; k >= 0; --k) u = (u << 8) | static_cast<uint8_t>(b[k]);
      if (!b.empty() && b.size() < 8 && (static_cast<uint8_t>(b.back()) & 0x80)) u |= ~uint64_t(0) << (8 * b.size());
      auto v = make(Value::Int);
      v->i = static_cast<int64_t>(u);
      return v;
    }
    auto v = make(Value::BigInt);
    v->s = b;
    return v;
  }
  // Whether `target` is `from` or lies inside it. A container put inside itself (through the memo) would be
  // a cycle of shared pointers, never freed, and endless to walk: refused (fuzz_pth found one).
  // The walks are bounded in total, so that a crafted pickle cannot make them quadratic (a state dict's
  // pickle takes a few thousand steps).
  bool reaches(const Value* from, const Value* target, std::unordered_set<const Value*>& seen) const {
    if (from == target) return true;
    if (!seen.insert(from).second) return false;
    if (++walk_steps_ > kMaxWalkSteps) fail("malformed pickle (too deeply shared to check)");
    for (auto& x : from->items)
      if (reaches(x.get(), target, seen)) return true;
    for (auto& [k, v] : from->entries)
      if (reaches(k.get(), target, seen) || reaches(v.get(), target, seen)) return true;
    return false;
  }
  void check_no_cycle(const ValuePtr& container, const ValuePtr& item) const {
    if (item == container) fail("malformed pickle (a container inside itself)");
    if (item->items.empty() && item->entries.empty()) return;  // holds nothing: no cycle through it
    std::unordered_set<const Value*> seen;
    if (reaches(item.get(), container.get(), seen)) fail("malformed pickle (a container inside itself)");
  }
  void add_items(const ValuePtr& list, const std::vector<ValuePtr>& xs) const {
    for (auto& x : xs) check_no_cycle(list, x);
    list->items.insert(list->items.end(), xs.begin(), xs.end());
  }
  void set_items(const ValuePtr& dict, const std::vector<ValuePtr>& kv) const {
    if (kv.size() % 2) fail("malformed pickle (odd SETITEMS)");
    for (auto& x : kv) check_no_cycle(dict, x);
    for (size_t k = 0; k < kv.size(); k += 2) dict->entries.emplace_back(kv[k], kv[k + 1]);
  }
  ValuePtr global(const std::string& g) const {
    if (!allowed_global(g))
      fail("it names the Python global '" + g + "', which loading would import and run; only tensors are read");
    auto v = make(Value::Global);
    v->s = g;
    return v;
  }
  static int64_t as_int(const ValuePtr& v, const Unpickler& u) {
    if (v->kind != Value::Int) u.fail("malformed tensor record (integer expected)");
    return v->i;
  }
  std::vector<int64_t> int_tuple(const ValuePtr& v) const {
    if (v->kind != Value::Tuple && v->kind != Value::List) fail("malformed tensor record (tuple expected)");
    std::vector<int64_t> out;
    for (auto& x : v->items) out.push_back(as_int(x, *this));
    return out;
  }
  ValuePtr reduce(const ValuePtr& fn, const ValuePtr& args) {
    expect(fn, Value::Global, "REDUCE");
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") return make(Value::Dict);
    if (fn->s == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != Value::Tensor) fail("malformed parameter record");
      return a[0];
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2" || fn->s == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != Value::StorageRef) fail("malformed tensor record");
      const Storage& st = *a[0]->storage;
      int64_t offset = as_int(a[1], *this);
      auto size = int_tuple(a[2]), stride = int_tuple(a[3]);
      if (size.size() != stride.size()) fail("malformed tensor record (size and stride differ in length)");
      // The view must lie inside its storage: a crafted file must not read past it.
      int64_t last = offset;
      bool empty = false;
      for (size_t d = 0; d < size.size(); ++d) {
        if (size[d] < 0 || stride[d] < 0) fail("malformed tensor record (negative size or stride)");
        if (size[d] == 0) empty = true;
        else last += (size[d] - 1) * stride[d];
      }
      if (offset < 0 || (!empty && last >= st.numel)) fail("a tensor's view reaches past its storage");
      auto v = make(Value::Tensor);
      v->tensor = empty ? torch::empty(size, torch::TensorOptions().dtype(st.dtype))
                        : st.data.as_strided(size, stride, offset);
      return v;
    }
    fail("'" + fn->s + "' cannot be called here");
  }

  std::string_view data_;
  size_t pos_ = 0;
  std::string file_;
  PersistentLoad load_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  static constexpr size_t kMaxWalkSteps = 10'000'000;
  mutable size_t walk_steps_ = 0;
};

// ('storage', <storage type>, key, location, numel[, view metadata])
struct StorageId {
  torch::Dtype dtype;
  std::string key;
  int64_t numel;
};

StorageId parse_storage_id(const ValuePtr& pid, const std::string& file) {
  auto fail = [&](const std::string& why) { throw Error(file, "cannot read checkpoint: " + why); };
  if (pid->kind != Value::Tuple || pid->items.size() < 5 || pid->items[0]->kind != Value::String ||
      pid->items[0]->s != "storage" || pid->items[1]->kind != Value::Global || pid->items[2]->kind != Value::String ||
      pid->items[4]->kind != Value::Int)
    fail("malformed storage reference");
  auto it = storage_types().find(pid->items[1]->s);
  if (it == storage_types().end()) fail("unknown storage type " + pid->items[1]->s);
  if (pid->items[4]->i < 0 || pid->items[4]->i > (int64_t(1) << 40)) fail("absurd storage size");
  return {it->second, pid->items[2]->s, pid->items[4]->i};
}

// The state dict in what was unpickled: the top-level dict, or one under "state_dict"/"model".
TensorMap collect_state_dict(const ValuePtr& root, const std::string& file) {
  if (root->kind != Value::Dict) throw Error(file, "the checkpoint holds no dict of tensors");
  for (const char* nested : {"state_dict", "model"})
    for (auto& [k, v] : root->entries)
      if (k->kind == Value::String && k->s == nested && v->kind == Value::Dict) return collect_state_dict(v, file);
  TensorMap out;
  for (auto& [k, v] : root->entries) {
    if (k->kind != Value::String) continue;
    if (v->kind == Value::Tensor) out[k->s] = v->tensor;
  }
  if (out.empty()) throw Error(file, "the checkpoint holds no tensors");
  return out;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Limits that bound what a checkpoint can make the reader allocate, before anything is allocated: every
// storage must be stored in full in the file (legacy) or declare exactly the record it reads (zip), records
// may not inflate beyond kMaxExpansion, and all storages together hold at most kMaxStorageBytes (the
// largest supported network, SE-ResNet-50, holds 110 MB).
constexpr std::uint64_t kMaxStorageBytes = std::uint64_t(4) << 30;
constexpr std::uint64_t kMaxPickleBytes = std::uint64_t(256) << 20;
constexpr std::uint64_t kMaxExpansion = 64;

struct ZipRecordSize {
  std::uint64_t compressed = 0, uncompressed = 0;
};

std::uint64_t little_endian(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The declared sizes of a zip's records (names without the archive's top folder), from its central
// directory: LibTorch's reader allocates a record's declared size before inflating it, so these are
// checked first. Zip64 fields are understood.
std::unordered_map<std::string, ZipRecordSize> zip_record_sizes(const std::filesystem::path& path) {
  const std::string name = path.string();
  auto fail = [&](const std::string& why) -> void { throw Error(name, "not a readable PyTorch zip checkpoint (" + why + ")"); };
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = static_cast<std::uint64_t>(in.tellg());
  auto read_at = [&](std::uint64_t offset, std::uint64_t n) {
    if (offset > file_size || n > file_size - offset) fail("a zip directory points past the end of the file");
    std::string bytes(n, '\0');
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(bytes.data(), static_cast<std::streamsize>(n));
    if (static_cast<std::uint64_t>(in.gcount()) != n) fail("cannot read the zip directory");
    return bytes;
  };
  // The end-of-central-directory record: 22 bytes plus a comment of at most 65535.
  const std::uint64_t tail_size = std::min<std::uint64_t>(file_size, 22 + 65535);
  const std::string tail = read_at(file_size - tail_size, tail_size);
  const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
  std::int64_t eocd = -1;
  for (std::int64_t i = static_cast<std::int64_t>(tail_size) - 22; i >= 0 && eocd < 0; --i)
    if (little_endian(t + i, 4) == 0x06054b50) eocd = i;
  if (eocd < 0) fail("no zip end record");
  std::uint64_t entries = little_endian(t + eocd + 10, 2), cd_size = little_endian(t + eocd + 12, 4),
                cd_offset = little_endian(t + eocd + 16, 4);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (eocd < 20 || little_endian(t + eocd - 20, 4) != 0x07064b50) fail("no zip64 locator");
    const std::string z = read_at(little_endian(t + eocd - 20 + 8, 8), 56);
    const auto* zp = reinterpret_cast<const unsigned char*>(z.data());
    if (little_endian(zp, 4) != 0x06064b50) fail("no zip64 end record");
    entries = little_endian(zp + 32, 8);
    cd_size = little_endian(zp + 40, 8);
    cd_offset = little_endian(zp + 48, 8);
  }
  const std::string cd = read_at(cd_offset, cd_size);
  const auto* c = reinterpret_cast<const unsigned char*>(cd.data());
  std::unordered_map<std::string, ZipRecordSize> sizes;
  std::uint64_t at = 0;
  for (std::uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > cd_size || little_endian(c + at, 4) != 0x02014b50) fail("damaged zip directory");
    ZipRecordSize r{little_endian(c + at + 20, 4), little_endian(c + at + 24, 4)};
    const std::uint64_t name_len = little_endian(c + at + 28, 2), extra_len = little_endian(c + at + 30, 2),
                        comment_len = little_endian(c + at + 32, 2);
    if (at + 46 + name_len + extra_len + comment_len > cd_size) fail("damaged zip directory");
    std::string record(cd.data() + at + 46, name_len);
    // Zip64 extra field (id 1): the 64-bit sizes that the 32-bit fields mark as 0xFFFFFFFF, in this order.
    for (std::uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const std::uint64_t id = little_endian(c + x, 2), len = little_endian(c + x + 2, 2);
      if (x + 4 + len > at + 46 + name_len + extra_len) break;
      if (id == 1) {
        std::uint64_t f = x + 4;
        if (r.uncompressed == 0xFFFFFFFF && f + 8 <= x + 4 + len) r.uncompressed = little_endian(c + f, 8), f += 8;
        if (r.compressed == 0xFFFFFFFF && f + 8 <= x + 4 + len) r.compressed = little_endian(c + f, 8);
      }
      x += 4 + len;
    }
    sizes[record.substr(record.find('/') + 1)] = r;
    at += 46 + name_len + extra_len + comment_len;
  }
  return sizes;
}

// Refuses a zip record that would allocate more than `expected` bytes or inflate beyond kMaxExpansion.
void check_record_size(const std::unordered_map<std::string, ZipRecordSize>& sizes, const std::string& record,
                       std::uint64_t expected, const std::string& file) {
  auto it = sizes.find(record);
  if (it == sizes.end()) throw Error(file, "cannot read checkpoint: record " + record + " is missing");
  const ZipRecordSize& r = it->second;
  if (r.uncompressed != expected)
    throw Error(file, "cannot read checkpoint: record " + record + " declares " + std::to_string(r.uncompressed) +
                          " bytes where " + std::to_string(expected) + " are expected");
  if (r.uncompressed > (std::uint64_t(1) << 20) && r.uncompressed / kMaxExpansion > r.compressed)
    throw Error(file, "cannot read checkpoint: record " + record + " would inflate " + std::to_string(r.compressed) +
                          " bytes to " + std::to_string(r.uncompressed) + " (more than " +
                          std::to_string(kMaxExpansion) + " times: a zip bomb?)");
}

TensorMap read_zip_checkpoint(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  std::string pickle;
  const auto sizes = zip_record_sizes(path);
  // Refused here rather than by LibTorch's reader, whose constructor leaks its zip state when it throws.
  if (!sizes.count("data.pkl")) throw Error(name, "not a PyTorch zip checkpoint (no data.pkl record)");
  if (auto it = sizes.find("data.pkl"); it->second.uncompressed > kMaxPickleBytes)
    throw Error(name, "cannot read checkpoint: its data.pkl declares " + std::to_string(it->second.uncompressed) +
                          " bytes (a state dict's is a few kB)");
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(name);
    auto [ptr, size] = reader->getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(ptr.get()), size);
  } catch (const c10::Error& e) {
    throw Error(name, std::string("not a readable PyTorch zip checkpoint (") + e.what_without_backtrace() + ")");
  }
  std::unordered_map<std::string, std::shared_ptr<Storage>> storages;
  std::uint64_t total_bytes = 0;
  Unpickler unpickler(pickle, name, [&](const ValuePtr& pid) {
    StorageId id = parse_storage_id(pid, name);
    auto& slot = storages[id.key];
    if (slot) return slot;
    const std::uint64_t bytes = static_cast<std::uint64_t>(id.numel) * torch::elementSize(id.dtype);
    total_bytes += bytes;
    if (total_bytes > kMaxStorageBytes)
      throw Error(name, "cannot read checkpoint: its storages declare more than " +
                            std::to_string(kMaxStorageBytes >> 30) + " GiB (no supported network is near that)");
    check_record_size(sizes, "data/" + id.key, bytes, name);
    slot = std::make_shared<Storage>();
    slot->dtype = id.dtype;
    try {
      auto [ptr, size] = reader->getRecord("data/" + id.key);
      const size_t elem = torch::elementSize(id.dtype);
      slot->numel = static_cast<int64_t>(size / elem);
      slot->data = torch::empty({slot->numel}, torch::TensorOptions().dtype(id.dtype));
      // An empty storage has no data pointer, and memcpy from or to null is undefined even for 0 bytes
      // (fuzz_pth: a zero-length record).
      if (slot->numel > 0) std::memcpy(slot->data.data_ptr(), ptr.get(), slot->numel * elem);
    } catch (const c10::Error& e) {
      throw Error(name, "storage " + id.key + " is missing or damaged (" + e.what_without_backtrace() + ")");
    }
    return slot;
  });
  TensorMap tensors = collect_state_dict(unpickler.run(), name);
  for (auto& [k, t] : tensors) t = t.clone();  // own, contiguous memory instead of views of storages
  return tensors;
}

TensorMap read_legacy_checkpoint(const std::filesystem::path& path) {
  const std::string name = path.string();
  const std::string all = read_all(path);
  std::string_view rest(all);
  auto no_storage = [&](const ValuePtr&) -> std::shared_ptr<Storage> {
    throw Error(name, "cannot read checkpoint: a storage where none is expected");
  };
  auto next_pickle = [&](Unpickler::PersistentLoad load) {
    Unpickler u(rest, name, std::move(load));
    ValuePtr v = u.run();
    rest.remove_prefix(u.position());
    return v;
  };
  ValuePtr magic = next_pickle(no_storage);
  static const unsigned char kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  if (magic->kind != Value::BigInt || magic->s != std::string(reinterpret_cast<const char*>(kMagic), 10))
    throw Error(name, "not a PyTorch checkpoint (neither zip nor the legacy format)");
  ValuePtr protocol = next_pickle(no_storage);
  if (protocol->kind != Value::Int || protocol->i != 1001)
    throw Error(name, "unsupported legacy checkpoint protocol");
  next_pickle(no_storage);  // sys info: byte order and type sizes; little endian is assumed below

  std::unordered_map<std::string, std::shared_ptr<Storage>> storages;
  std::uint64_t total_bytes = 0;
  ValuePtr root = next_pickle([&](const ValuePtr& pid) {
    StorageId id = parse_storage_id(pid, name);
    auto& slot = storages[id.key];
    if (!slot) {
      // The storages follow the pickles in the file: one that declares more than the whole file is a lie,
      // refused before it is allocated.
      total_bytes += static_cast<std::uint64_t>(id.numel) * torch::elementSize(id.dtype);
      if (total_bytes > all.size())
        throw Error(name, "truncated or damaged: storage " + id.key + " declares more data than the file holds");
      slot = std::make_shared<Storage>();
      slot->dtype = id.dtype;
      slot->numel = id.numel;
      slot->data = torch::empty({id.numel}, torch::TensorOptions().dtype(id.dtype));
    }
    return slot;
  });
  ValuePtr keys = next_pickle(no_storage);
  if (keys->kind != Value::List) throw Error(name, "cannot read checkpoint: no storage key list");
  for (auto& k : keys->items) {
    if (k->kind != Value::String || !storages.count(k->s))
      throw Error(name, "cannot read checkpoint: unknown storage key");
    Storage& st = *storages[k->s];
    if (rest.size() < 8) throw Error(name, "truncated: storage " + k->s + " is missing");
    int64_t numel = 0;
    std::memcpy(&numel, rest.data(), 8);
    rest.remove_prefix(8);
    const uint64_t bytes = static_cast<uint64_t>(numel) * torch::elementSize(st.dtype);
    if (numel != st.numel || bytes > rest.size())
      throw Error(name, "truncated or damaged: storage " + k->s + " holds less data than it declares");
    if (bytes > 0) std::memcpy(st.data.data_ptr(), rest.data(), bytes);
    rest.remove_prefix(bytes);
  }
  TensorMap tensors = collect_state_dict(root, name);
  for (auto& [k, t] : tensors) t = t.clone();
  return tensors;
}

}  // namespace

TensorMap read_pth(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(name, "no such file");
  char head[4] = {0};
  in.read(head, 4);
  if (in.gcount() == 0) throw Error(name, "empty file (0 bytes)");
  if (std::memcmp(head, "PK\x03\x04", 4) == 0) return read_zip_checkpoint(path);
  return read_legacy_checkpoint(path);
}

}  // namespace genrenet
