#include "io/write_behind.h"

#include <stdexcept>

namespace genrenet::io {

WriteBehind::WriteBehind(std::size_t depth) : depth_(depth < 1 ? 1 : depth), thread_([this] { run(); }) {}

WriteBehind::~WriteBehind() {
  finish();
}

void WriteBehind::submit(std::packaged_task<void()> job) {
  std::unique_lock lock(mutex_);
  if (finishing_) throw std::logic_error("WriteBehind::submit after finish");
  changed_.wait(lock, [this] { return jobs_.size() < depth_; });
  jobs_.push_back(std::move(job));
  changed_.notify_all();
}

void WriteBehind::finish() {
  {
    std::lock_guard lock(mutex_);
    finishing_ = true;
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void WriteBehind::run() {
  for (;;) {
    std::packaged_task<void()> job;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return !jobs_.empty() || finishing_; });
      if (jobs_.empty()) return;  // finishing, and nothing left
      job = std::move(jobs_.front());
    }
    job();
    {
      // The job leaves the queue only once it has run: `depth` bounds the files held in memory, the one
      // being written included.
      std::lock_guard lock(mutex_);
      jobs_.pop_front();
      changed_.notify_all();
    }
  }
}

}  // namespace genrenet::io
