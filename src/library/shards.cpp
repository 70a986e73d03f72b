// A catalogue split across machines: which part this process takes, from a flag or from the engine that
// started it (Slurm job arrays, torchrun), and which files are in it.
#include <charconv>
#include <cstdint>
#include <cstdlib>

#include <genrenet/library.h>

namespace genrenet {
namespace {

// A whole number in [lo, hi] or an Error naming `who`.
int whole_number(const std::string& text, int lo, int hi, const std::string& who) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    throw Error(who, "must be a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got \"" + text + "\"");
  return v;
}

std::string variable(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::string Shard::name() const { return "shard-" + std::to_string(index) + "-of-" + std::to_string(count); }

Shard resolve_shard(const std::string& typed) {
  Shard s;
  if (!typed.empty()) {
    const size_t slash = typed.find('/');
    if (slash == std::string::npos) throw Error("--shard", "expected K/N (this part, of N; K from 0), got \"" + typed + "\"");
    s.count = whole_number(typed.substr(slash + 1), 1, 1000000, "--shard");
    s.index = whole_number(typed.substr(0, slash), 0, s.count - 1, "--shard");
    s.source = "--shard";
  } else if (const std::string count = variable("SLURM_ARRAY_TASK_COUNT"); !count.empty()) {
    // Arrays may start anywhere (--array=1-8): the part is the task's place in the array.
    s.count = whole_number(count, 1, 1000000, "SLURM_ARRAY_TASK_COUNT");
    const std::string min = variable("SLURM_ARRAY_TASK_MIN");
    const int first = min.empty() ? 0 : whole_number(min, 0, 1 << 30, "SLURM_ARRAY_TASK_MIN");
    s.index = whole_number(variable("SLURM_ARRAY_TASK_ID"), first, first + s.count - 1, "SLURM_ARRAY_TASK_ID") - first;
    s.source = "SLURM_ARRAY_TASK_ID";
  } else if (const std::string world = variable("WORLD_SIZE"); !world.empty()) {
    s.count = whole_number(world, 1, 1000000, "WORLD_SIZE");
    s.index = whole_number(variable("RANK"), 0, s.count - 1, "RANK");
    s.source = "RANK";
  }
  return s;
}

std::vector<std::filesystem::path> files_of_shard(const std::vector<std::filesystem::path>& files, const Shard& shard) {
  if (shard.whole()) return files;
  std::vector<std::filesystem::path> mine;
  for (const auto& f : files) {
    std::uint64_t h = 14695981039346656037ull;  // FNV-1a: stable across machines, compilers and releases
    for (unsigned char c : f.lexically_normal().string()) h = (h ^ c) * 1099511628211ull;
    if (static_cast<int>(h % static_cast<std::uint64_t>(shard.count)) == shard.index) mine.push_back(f);
  }
  return mine;
}

}  // namespace genrenet
