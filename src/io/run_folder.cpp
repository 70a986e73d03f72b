#include "common/log.h"
#include "io/run_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <genrenet/genrenet.h>

#include "io/atomic_file.h"

namespace genrenet::io {
namespace {

// Test hook: GENRENET_TEST_CRASH_AT=<point>:<n> kills this process (SIGKILL, as kill -9 would) the n-th
// time it reaches <point>, so that tests can stop a run inside each step of a commit.
void crash_point(const char* point) {
  static const char* spec = std::getenv("GENRENET_TEST_CRASH_AT");
  if (!spec) return;
  static int reached = 0;
  const std::string s = spec, name = s.substr(0, s.find(':'));
  if (name != point) return;
  const int n = s.find(':') == std::string::npos ? 1 : std::atoi(s.c_str() + s.find(':') + 1);
  if (++reached == n) ::raise(SIGKILL);
}

void rename_or_throw(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) throw Error(to.string(), "cannot move the checkpoint file into place (" + ec.message() + ")");
}

// Moves every file of a committed checkpoint into the run folder; each rename replaces one file whole.
void publish(const std::filesystem::path& committed, const std::filesystem::path& root) {
  for (const auto& entry : std::filesystem::directory_iterator(committed)) {
    rename_or_throw(entry.path(), root / entry.path().filename());
    crash_point("checkpoint-published");
  }
  fsync_folder(root);
  std::filesystem::remove(committed);
}

// A second name for `existing` (same file system: both are in the staging folder); false where the file system
// has no hard links (FAT, some network shares) or GENRENET_TEST_NO_HARD_LINKS is set (tests of that fallback).
bool hard_link(const std::filesystem::path& existing, const std::filesystem::path& link) {
  if (std::getenv("GENRENET_TEST_NO_HARD_LINKS")) return false;
  std::error_code ec;
  std::filesystem::create_hard_link(existing, link, ec);
  return !ec;
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

void RunFolder::commit(const std::vector<File>& files) const {
  if (std::filesystem::exists(committed())) publish(committed(), root_);
  std::filesystem::remove_all(staging());
  try {
    std::filesystem::create_directories(staging());
    for (const auto& f : files) {
      if (f.same_as.empty() || !hard_link(staging() / f.same_as, staging() / f.name)) f.write(staging() / f.name);
      crash_point("checkpoint-staged");
    }
    fsync_folder(staging());
  } catch (const std::exception& e) {
    // A full disk, most often: the half-written checkpoint goes (the last one stays), and the message says so.
    std::error_code ec;
    const auto space = std::filesystem::space(root_, ec);
    const bool full = !ec && space.available < (64u << 20);
    std::filesystem::remove_all(staging(), ec);
    throw Error(root_.string(), std::string("this epoch's checkpoint could not be written") +
                                    (full ? ": the disk is full (No space left on device)" : "") + " (" + e.what() +
                                    "); the last complete checkpoint is kept: make room and run again with --resume");
  }
  rename_or_throw(staging(), committed());  // the commit point
  fsync_folder(root_);
  crash_point("checkpoint-committed");
  publish(committed(), root_);
}

std::vector<std::string> RunFolder::recover() const {
  std::vector<std::string> done;
  if (std::filesystem::exists(committed())) {
    publish(committed(), root_);
    done.push_back("completed the checkpoint that a stopped run had committed but not yet moved into place");
  }
  if (std::filesystem::exists(staging())) {
    std::filesystem::remove_all(staging());
    done.push_back("discarded the half-written checkpoint of a stopped run (it resumes from the epoch before)");
  }
  std::uintmax_t bytes = 0;
  int count = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
    const long owner = temporary_file_owner(entry.path().filename().string());
    if (owner == 0 || !entry.is_regular_file() || process_alive(owner)) continue;
    bytes += entry.file_size(ec);
    if (std::filesystem::remove(entry.path(), ec)) ++count;
  }
  if (count)
    done.push_back("removed " + std::to_string(count) + " temporary file(s) of interrupted writes (" +
                   std::to_string(bytes / 1000000) + " MB)");
  return done;
}

void RunFolder::recover_and_report() const {
  for (const auto& line : recover()) log(LogLevel::Note, "note: " + root_.string() + ": " + line);
}

void RunFolder::remove_checkpoint() const {
  for (const auto& p : {state(), last_model(), best_model(), optimizer(), metrics(), curves()})
    std::filesystem::remove(p);
  std::filesystem::remove_all(staging());
  std::filesystem::remove_all(committed());
}

RunFolderLock::RunFolderLock(const RunFolder& folder) {
  const auto path = folder.root() / ".lock";
  fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path.string(), std::string("cannot create the run folder's lock (") + std::strerror(errno) + ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error == EWOULDBLOCK)
      throw Error(folder.root().string(), "another process is training into this run folder; wait for it or choose another --out");
    throw Error(path.string(), std::string("cannot lock the run folder (") + std::strerror(error) + ")");
  }
}

RunFolderLock::~RunFolderLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace genrenet::io
