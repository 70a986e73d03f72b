#include "common/progress.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace genrenet {
namespace {
std::atomic<int> g_silences{0};
}  // namespace

ProgressBar::Silence::Silence() { ++g_silences; }
ProgressBar::Silence::~Silence() { --g_silences; }
bool ProgressBar::silenced() { return g_silences > 0; }

ProgressBar::ProgressBar(std::string label, std::size_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && g_silences == 0 && total > 0 && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::tick(std::size_t n) {
  std::lock_guard lock(mutex_);
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  // Redraw at most 10 times a second: a terminal is slow next to per-clip work.
  if (enabled_ && (now - last_draw_ > std::chrono::milliseconds(100) || done_ >= total_)) {
    last_draw_ = now;
    draw_locked(false);
  }
}

void ProgressBar::finish() {
  std::lock_guard lock(mutex_);
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw_locked(true);
}

std::string ProgressBar::format_duration(double s) {
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

void ProgressBar::draw_locked(bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = total_ ? static_cast<double>(done_) / total_ : 1.0;
  if (frac > 1) frac = 1;
  const int width = 30;
  int filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  std::string eta = done_ > 0 && !final ? "ETA " + format_duration(elapsed / done_ * (total_ - done_))
                                        : "in " + format_duration(elapsed);
  std::fprintf(stderr, "\r%s [%s] %zu/%zu %3.0f%% %s   ", label_.c_str(), bar.c_str(), done_, total_,
               100 * frac, eta.c_str());
  if (final) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace genrenet
