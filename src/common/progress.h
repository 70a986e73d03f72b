// A progress bar with an ETA for long work, drawn on stderr only when stderr is a terminal (logs and
// pipes stay clean). Thread-safe: workers call tick() from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace genrenet {

class ProgressBar {
 public:
  ProgressBar(std::string label, std::size_t total, bool enabled = true);
  ~ProgressBar();
  void tick(std::size_t n = 1);
  void finish();
  // While one lives, no bar starts drawing (the workers of a data-parallel run other than rank 0 draw none);
  // bars draw again when the last one is gone, so nothing stays switched off behind its owner.
  class Silence {
   public:
    Silence();
    ~Silence();
    Silence(const Silence&) = delete;
    Silence& operator=(const Silence&) = delete;
  };
  static bool silenced();
  // Formats seconds as "1h02m", "3m05s" or "12.3s".
  static std::string format_duration(double seconds);

 private:
  void draw_locked(bool final);
  std::string label_;
  std::size_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
};

}  // namespace genrenet
