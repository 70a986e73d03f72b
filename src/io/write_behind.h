// Writing files behind the computation: jobs run in order on a thread of their own, so that the next file
// is computed while this one's system calls (the copy into the page cache, the file system's allocation,
// the rename) run on another core. `genrenet features --threads 1` spent 0.27-0.29 ms of a 3.7-ms clip
// writing its 512-KB .npy (docs/PERFORMANCE.md); behind the computation that time is no longer the
// command's.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace genrenet::io {

class WriteBehind {
 public:
  // At most `depth` jobs wait (each holds its file's bytes): a computation faster than the disk waits for
  // it instead of holding every file in memory.
  explicit WriteBehind(std::size_t depth = 2);
  ~WriteBehind();  // finish()
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Queues job() (which must not throw: it reports its own errors); blocks while `depth` jobs wait.
  void submit(std::packaged_task<void()> job);
  // Returns when every job submitted so far has run; the writing thread ends. submit() after it is an error.
  void finish();

 private:
  void run();

  std::size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::packaged_task<void()>> jobs_;
  bool finishing_ = false;
  std::thread thread_;
};

}  // namespace genrenet::io
