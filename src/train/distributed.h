// The process group of a data-parallel run, on LibTorch's c10d: a TCPStore for rendezvous and small
// messages, Gloo (or NCCL on CUDA builds) for collectives, and c10d's Reducer (the engine of PyTorch's
// DistributedDataParallel) for bucketed gradient all-reduce overlapping the backward pass. This header
// keeps c10d's headers out of the trainer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <genrenet/distributed.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet {

// Averages the gradients of a fixed set of parameters over the processes during backward().
class GradientAverager {
 public:
  virtual ~GradientAverager() = default;
  virtual void before_forward() = 0;   // each training step, before the forward pass
  virtual void before_backward() = 0;  // each training step, between the forward and the backward pass
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  // This process's group, made on first use (every process must call it); nullptr when the environment
  // says this is a single process. `timeout` bounds every wait for another process.
  static ProcessGroup* get(int timeout_seconds, bool cuda);

  virtual const DistributedEnv& env() const = 0;
  int rank() const { return env().rank; }
  int size() const { return env().world_size; }

  virtual void all_reduce_sum(torch::Tensor& t) = 0;             // in place, waits
  virtual void broadcast(std::vector<torch::Tensor> tensors) = 0;  // rank 0's values into every process's tensors
  virtual void barrier() = 0;
  // Rank 0's `value` on every process (through the store; any size). Every process must call it, in
  // the same order.
  virtual std::string share(const std::string& value) = 0;
  virtual std::unique_ptr<GradientAverager> gradient_averager(const std::vector<torch::Tensor>& params) = 0;
};

// The first line of an exception's message, without LibTorch's backtrace.
std::string short_message(const std::exception& e);

}  // namespace genrenet
