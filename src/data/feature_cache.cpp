// The feature cache: <dir>/<options key>/<content SHA-256>.npy, one log-mel (dB, full length) per file.
// The options key hashes only the options that shape the log-mel: standardisation, length, crop and pad
// are applied when the spectrogram is used, so changing them reuses the cache.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>

#include <genrenet/compute.h>
#include <genrenet/data.h>

#include "audio/reused_audio.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "io/atomic_file.h"

namespace genrenet {
namespace {

std::string options_key(FeatureOptions o) {
  const FeatureOptions defaults;
  o.standardize = defaults.standardize;
  o.frames = defaults.frames;
  o.crop = defaults.crop;
  o.pad = defaults.pad;
  return sha256_hex(o.to_json()).substr(0, 16);
}

// Removes the temporary files of writes whose process was killed (a .npy half written when a process
// died), which nothing else would ever remove. The writer is named in the file name; a file is taken for
// a leftover only when that process is gone here and the file is an hour old, so that a live writer on
// another machine sharing the cache (its process id means nothing here) is never disturbed.
int sweep_killed_writes(const std::filesystem::path& dir) {
  int removed = 0;
  std::error_code ec;
  const auto hour_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const long pid = io::temporary_file_owner(it->path().filename().string());
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)) continue;
    std::error_code stat_ec, remove_ec;
    if (std::filesystem::last_write_time(it->path(), stat_ec) < hour_ago && !stat_ec &&
        std::filesystem::remove(it->path(), remove_ec))
      ++removed;
  }
  return removed;
}

}  // namespace

std::filesystem::path default_feature_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "genrenet" / "features";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "genrenet" / "features";
  return ".genrenet-cache";
}

FeatureCache::FeatureCache(std::filesystem::path dir, FeatureOptions options)
    : dir_(std::move(dir) / options_key(options)), extractor_(std::move(options)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_ / "locks", ec);
  if (ec) throw Error(dir_.string(), "cannot create the feature cache folder (" + ec.message() + ")");
  if (!std::filesystem::exists(dir_ / "options.json"))
    io::write_file_atomically(dir_ / "options.json", extractor_.options().to_json());
  if (const int n = sweep_killed_writes(dir_))
    log(LogLevel::Note, "note: " + dir_.string() + ": removed " + std::to_string(n) + " temporary file(s) of killed writes");
}

namespace {

// An exclusive lock on a file, held for the life of the object (flock: released even when the process dies).
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw Error(path.string(), std::string("cannot open the cache lock (") + std::strerror(errno) + ")");
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) throw Error(path.string(), std::string("cannot lock (") + std::strerror(errno) + ")");
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

}  // namespace

std::optional<Spectrogram> FeatureCache::read_entry(const std::filesystem::path& entry) const {
  if (!std::filesystem::exists(entry)) return std::nullopt;
  try {
    NpyArray a = read_npy(entry);
    // A log-mel in dB is always finite (the floor is amin): a NaN or infinity means the entry is damaged.
    const bool finite = std::all_of(a.data.begin(), a.data.end(), [](float v) { return std::isfinite(v); });
    if (a.shape.size() == 2 && a.shape[0] == extractor_.options().n_mels && a.shape[1] > 0 && finite)
      return Spectrogram{static_cast<int>(a.shape[0]), static_cast<int>(a.shape[1]), std::move(a.data)};
  } catch (const Error&) {
    // A damaged entry (a crash of another writer cannot cause one: writes are atomic; a disk error can).
  }
  log(LogLevel::Warning, entry.string() + ": damaged cache entry, recomputing");
  return std::nullopt;
}

Spectrogram FeatureCache::load_one(const std::filesystem::path& file, bool& computed) {
  computed = false;
  const std::string hash = sha256_file(file);
  const auto entry = dir_ / (hash + ".npy");
  const bool existed = std::filesystem::exists(entry);
  if (auto s = read_entry(entry)) return std::move(*s);
  // One writer per entry when several processes (the workers of a data-parallel run) fill the cache at
  // once: the entry's lock (one of 256, by hash) is held while it is computed, and whoever waited for it
  // finds the entry written. Entries are written atomically, so readers never need the lock. A damaged
  // entry (it existed) is rebuilt at once, without a second look and a second warning.
  FileLock lock(dir_ / "locks" / (hash.substr(0, 2) + ".lock"));
  if (!existed)
    if (auto s = read_entry(entry)) return std::move(*s);
  Spectrogram s = extractor_.log_mel(load_audio_reusing_buffers(file, extractor_.options().audio).samples);
  write_npy(entry, s.data, {s.n_mels, s.n_frames});
  computed = true;
  return s;
}

FeatureCache::Result FeatureCache::load(const std::vector<std::filesystem::path>& files, int threads,
                                        const std::string& label) {
  Result r;
  r.spectrograms.resize(files.size());
  r.errors.resize(files.size());
  std::atomic<int> computed{0}, failed{0};
  ProgressBar bar(label, files.size(), files.size() > 1);
  parallel_for(files.size(), resolve_threads(threads), [&](size_t i) {
    try {
      bool c = false;
      r.spectrograms[i] = load_one(files[i], c);
      if (c) ++computed;
    } catch (const std::exception& e) {
      r.errors[i] = e.what();
      ++failed;
    }
    bar.tick();
  });
  bar.finish();
  r.computed = computed;
  r.failed = failed;
  r.reused = static_cast<int>(files.size()) - r.computed - r.failed;
  return r;
}

}  // namespace genrenet
