#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>

#include <genrenet/genrenet.h>

namespace genrenet::io {
namespace {

void fsync_path(const std::filesystem::path& p, bool directory) {
  int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;  // best effort for folders on file systems that refuse it
  ::fsync(fd);
  ::close(fd);
}

// Writes `target` through a temporary file renamed over it; with `synced`, both the file and its folder are
// flushed to disk (fsync) so that the new content survives a crash as well as a kill.
void write_into_place(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path& tmp)>& write, bool synced) {
  static std::atomic<unsigned> counter{0};
  auto dir = target.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error(dir.string(), "cannot create folder (" + ec.message() + ")");
  }
  auto tmp = target;
  // The name temporary_file_owner() parses.
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  try {
    write(tmp);
    if (synced) fsync_path(tmp, false);
    std::error_code ec;
    std::filesystem::rename(tmp, target, ec);
    if (ec) throw Error(target.string(), "cannot move the new file into place (" + ec.message() + ")");
    if (synced) fsync_path(dir.empty() ? std::filesystem::path(".") : dir, true);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace

void fsync_folder(const std::filesystem::path& dir) { fsync_path(dir, true); }

long temporary_file_owner(const std::string& name) {
  static const std::regex pattern(R"(.+\.tmp\.(\d{1,9})\.\d+)");
  std::smatch m;
  return std::regex_match(name, m, pattern) ? std::stol(m[1]) : 0;
}

void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path& tmp)>& write) {
  write_into_place(target, write, true);
}

void sync_file_system(const std::filesystem::path& path) {
  int fd = ::open(path.empty() ? "." : path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::syncfs(fd);
  ::close(fd);
}

void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, bool synced) {
  write_into_place(target, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(target.string(), std::string("cannot write (") + std::strerror(errno) + ")");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw Error(target.string(), "write failed (disk full?)");
  }, synced);
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "cannot read");
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace genrenet::io
