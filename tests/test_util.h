// Helpers shared by the tests: a temporary folder per test, synthetic signals, running the CLI.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "common/simd.h"

namespace genrenet::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "genrenet-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::vector<float> sine(double hz, double seconds, int rate, double amp = 0.5) {
  std::vector<float> x(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(amp * std::sin(2 * std::numbers::pi * hz * i / rate));
  return x;
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct RunResult {
  int status;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing its output.
inline RunResult run(const std::string& cmd) {
  RunResult r{0, ""};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Calls fn(level) with simd::dispatch limited to each SIMD level this CPU runs (AVX-512, AVX2, SSE), so that
// every kernel chosen by level is tested here; the limit is lifted afterwards, also on a failed assertion.
template <class Fn>
void for_each_simd_level(Fn fn) {
  struct Restore {
    ~Restore() { simd::level_limit() = simd::Level::V4; }
  } restore;
  for (simd::Level level : {simd::Level::V4, simd::Level::V3, simd::Level::Baseline}) {
    if (level > simd::cpu_level()) continue;
    simd::level_limit() = level;
    fn(level);
  }
}

}  // namespace genrenet::test
