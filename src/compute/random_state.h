// Work that draws random numbers only for itself — measuring a precision (a fresh network, random inputs),
// building a network whose weights are loaded at once — keeps those draws from showing: the default CPU
// generator's state is saved and put back, so that a program's random sequence (a training run's, a library
// user's) is the same whether "auto" measured or found its choice in the cache, and whether a model was loaded.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>

#include <mutex>

namespace genrenet {

class ScopedRandomState {
 public:
  ScopedRandomState() : generator_(at::detail::getDefaultCPUGenerator()) {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    state_ = generator_.get_state();
  }
  ~ScopedRandomState() {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(state_);
  }
  ScopedRandomState(const ScopedRandomState&) = delete;
  ScopedRandomState& operator=(const ScopedRandomState&) = delete;

 private:
  at::Generator generator_;
  at::Tensor state_;
};

}  // namespace genrenet
