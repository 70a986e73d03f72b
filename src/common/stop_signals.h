// Ctrl-C and SIGTERM turned into a request to stop, for every command that stops cleanly (train,
// experiments, demo and tag end after the batch or file in hand; serve closes its connections) and for the
// launcher of data-parallel workers, which passes each one on. One helper, so that every command treats a
// second signal, and the handlers it found, the same way.
#pragma once

#include <atomic>

namespace genrenet {

class StopSignals {
 public:
  // What a second signal does: ExitNow gives it the default action (the process ends at once: the way out
  // of a stop that takes too long); PassOn catches it too (the launcher forwards every one).
  enum class Second { ExitNow, PassOn };
  explicit StopSignals(Second second = Second::ExitNow);
  ~StopSignals();  // puts back the handlers it found
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Set by the first signal; what RunControl::stop and TagOptions::stop take.
  const std::atomic<bool>* flag() const;
  // The signal caught since the last call (0: none), for passing it on.
  int take();
};

}  // namespace genrenet
