#include "common/stop_signals.h"

#include <csignal>

namespace genrenet {
namespace {

// A handler may touch only lock-free atomics and sig_atomic_t.
std::atomic<bool> g_stop{false};
volatile std::sig_atomic_t g_caught = 0;
volatile std::sig_atomic_t g_exit_on_second = 1;
struct sigaction g_old_int {}, g_old_term {};

void on_stop_signal(int sig) {
  g_stop = true;
  g_caught = sig;
  if (g_exit_on_second) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
}

}  // namespace

StopSignals::StopSignals(Second second) {
  static_assert(std::atomic<bool>::is_always_lock_free);
  g_stop = false;
  g_caught = 0;
  g_exit_on_second = second == Second::ExitNow;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
}

const std::atomic<bool>* StopSignals::flag() const { return &g_stop; }

int StopSignals::take() {
  const int sig = g_caught;
  g_caught = 0;
  return sig;
}

}  // namespace genrenet
