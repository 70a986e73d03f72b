// Data-parallel training's process group on LibTorch's own distributed engine (c10d), never a home-made
// protocol: TCPStore for the rendezvous, Gloo for CPU collectives (NCCL where LibTorch was built with
// CUDA), and c10d::Reducer — the C++ core of PyTorch's DistributedDataParallel — for gradient buckets
// that are all-reduced while the backward pass is still running.
#define USE_C10D_GLOO 1
#ifdef GENRENET_WITH_NCCL
#define USE_C10D_NCCL 1
#endif

#include "train/distributed.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <mutex>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#define GENRENET_TORCH_COMPAT_C10D
#include "compute/torch_compat.h"
#ifdef GENRENET_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace genrenet {
namespace {

const char* env_value(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// An integer variable: `fallback` when unset; an Error naming the variable when malformed or out of range.
int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = env_value(name);
  if (!v) return fallback;
  int x = 0;
  const char* end = v + std::strlen(v);
  auto [p, ec] = std::from_chars(v, end, x);
  // Slurm writes tasks per node as "2(x3)": the leading count is the one for this node.
  const bool slurm_list = p != end && *p == '(' && std::string_view(name).starts_with("SLURM_");
  if (ec != std::errc() || (p != end && !slurm_list) || x < lo || x > hi)
    throw Error(std::string("environment variable ") + name,
                "\"" + std::string(v) + "\" is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

}  // namespace

std::string short_message(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string m = c10_error ? c10_error->what_without_backtrace() : e.what();
  if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  return m;
}

DistributedEnv DistributedEnv::from_environment() {
  DistributedEnv d;
  constexpr int kMaxWorld = 1 << 20;
  if (env_value("RANK") || env_value("WORLD_SIZE")) {
    d.world_size = env_int("WORLD_SIZE", 1, 1, kMaxWorld);
    d.rank = env_int("RANK", 0, 0, d.world_size - 1);
    d.local_world_size = env_int("LOCAL_WORLD_SIZE", d.world_size, 1, d.world_size);
    d.local_rank = env_int("LOCAL_RANK", d.rank % d.local_world_size, 0, d.local_world_size - 1);
  } else if (env_value("SLURM_PROCID") && env_value("SLURM_NTASKS")) {
    d.world_size = env_int("SLURM_NTASKS", 1, 1, kMaxWorld);
    d.rank = env_int("SLURM_PROCID", 0, 0, d.world_size - 1);
    d.local_world_size = env_int("SLURM_NTASKS_PER_NODE", d.world_size, 1, d.world_size);
    d.local_rank = env_int("SLURM_LOCALID", 0, 0, d.local_world_size - 1);
  }
  if (const char* a = env_value("MASTER_ADDR")) d.master_addr = a;
  d.master_port = env_int("MASTER_PORT", d.master_port, 1, 65535);
  if (d.active() && !env_value("MASTER_ADDR") && d.local_world_size < d.world_size)
    throw Error("environment variable MASTER_ADDR",
                "not set, but the run spans several machines: set it to the address of rank 0's machine");
  return d;
}

const DistributedEnv& distributed_env() {
  static const DistributedEnv env = DistributedEnv::from_environment();
  return env;
}

bool is_main_process() { return distributed_env().rank == 0; }

namespace {

class ReducerAverager final : public GradientAverager {
 public:
  ReducerAverager(const std::vector<torch::Tensor>& params, const c10::intrusive_ptr<c10d::ProcessGroup>& pg) {
    // As DistributedDataParallel: buckets of 25 MB (the first 1 MB, so that all-reduce starts early) in
    // the reverse order of the parameters, which is roughly the order in which backward produces them.
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
        params, {static_cast<size_t>(c10d::kDefaultFirstBucketBytes), static_cast<size_t>(c10d::kDefaultBucketBytesCap)},
        std::vector<bool>(params.size(), false));
    std::reverse(buckets.begin(), buckets.end());
    std::reverse(limits.begin(), limits.end());
    reducer_ = torch_compat::make_reducer(params, std::move(buckets), std::move(limits), pg);
  }
  void before_forward() override {
    reducer_->prepare_for_forward();
    // After the first step the buckets are rebuilt in the order gradients actually arrived (rank 0's order,
    // shared), as DistributedDataParallel does.
    reducer_->rebuild_buckets();
  }
  void before_backward() override { reducer_->prepare_for_backward({}); }

 private:
  std::unique_ptr<c10d::Reducer> reducer_;
};

class C10dProcessGroup final : public ProcessGroup {
 public:
  C10dProcessGroup(const DistributedEnv& env, int timeout_seconds, bool cuda) : env_(env) {
    const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
    // Under torchrun the launcher itself serves the store at MASTER_ADDR:MASTER_PORT and says so; the
    // workers then join it as clients, under the key prefix of this restart, as torch.distributed does.
    const char* agent = env_value("TORCHELASTIC_USE_AGENT_STORE");
    const bool agent_store = agent && std::string(agent) == "True";
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0 && !agent_store;
    so.numWorkers = env.world_size;
    so.waitWorkers = !agent_store;
    so.timeout = std::chrono::milliseconds(std::chrono::seconds(timeout_seconds));
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      if (agent_store) {
        const char* restart = env_value("TORCHELASTIC_RESTART_COUNT");
        store_ = c10::make_intrusive<c10d::PrefixStore>(std::string("/worker/attempt_") + (restart ? restart : "0"), store_);
      }
    } catch (const std::exception& e) {
      throw Error("rendezvous at " + where,
                  (env.rank == 0 ? "rank 0 could not serve it, or not every one of the " + std::to_string(env.world_size) +
                                       " processes arrived within " + std::to_string(timeout_seconds) + " s"
                                 : "could not reach rank 0 within " + std::to_string(timeout_seconds) + " s") +
                      " (" + short_message(e) + ")");
    }
    try {
      if (cuda) {
#ifdef GENRENET_WITH_NCCL
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = so.timeout;
        pg_ = torch_compat::make_process_group(
            store_, env.rank, env.world_size, c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env.rank, env.world_size, o),
            c10::DeviceType::CUDA);
#else
        throw Error("training option device", "cuda: data-parallel CUDA training needs a LibTorch built with NCCL");
#endif
      } else {
        auto o = c10d::ProcessGroupGloo::Options::create(so.timeout);
        // As torch.distributed: GLOO_SOCKET_IFNAME picks the network interface; a run on one machine
        // stays on the loopback device; otherwise the address this machine's host name resolves to.
        if (const char* ifname = env_value("GLOO_SOCKET_IFNAME"))
          o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
        else if (is_loopback(env.master_addr))
          o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else
          o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        o->threads = 2;
        pg_ = torch_compat::make_process_group(
            store_, env.rank, env.world_size, c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world_size, o),
            c10::DeviceType::CPU);
      }
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("process group of rank " + std::to_string(env.rank), short_message(e));
    }
  }

  const DistributedEnv& env() const override { return env_; }

  void all_reduce_sum(torch::Tensor& t) override {
    std::vector<torch::Tensor> v{t.is_contiguous() ? t : t.contiguous()};
    pg_->allreduce(v)->wait();
    if (!v[0].is_same(t)) t.copy_(v[0]);
  }

  void broadcast(std::vector<torch::Tensor> tensors) override {
    // One collective per dtype: every tensor flattened into one buffer.
    std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
    for (auto& t : tensors) by_type[t.scalar_type()].push_back(t);
    torch::NoGradGuard no_grad;
    for (auto& [type, group] : by_type) {
      std::vector<torch::Tensor> flat_parts;
      for (auto& t : group) flat_parts.push_back(t.contiguous().view(-1));
      std::vector<torch::Tensor> buffer{torch::cat(flat_parts)};
      pg_->broadcast(buffer)->wait();
      int64_t offset = 0;
      for (auto& t : group) {
        t.copy_(buffer[0].narrow(0, offset, t.numel()).view(t.sizes()));
        offset += t.numel();
      }
    }
  }

  void barrier() override { pg_->barrier()->wait(); }

  std::string share(const std::string& value) override {
    // In pieces: LibTorch 2.x's store (the libuv backend) refuses a message over 8 MiB, and an optimiser
    // state on --resume is tens of megabytes.
    constexpr size_t kPiece = size_t(4) << 20;
    const std::string key = "genrenet/share/" + std::to_string(shares_++);
    if (env_.rank == 0) {
      const size_t pieces = (value.size() + kPiece - 1) / kPiece;
      for (size_t i = 0; i < pieces; ++i) {
        const size_t at = i * kPiece, n = std::min(kPiece, value.size() - at);
        store_->set(key + "/" + std::to_string(i), std::vector<uint8_t>(value.begin() + at, value.begin() + at + n));
      }
      const std::string count = std::to_string(pieces);
      store_->set(key, std::vector<uint8_t>(count.begin(), count.end()));  // last: readers wait on this key
      return value;
    }
    const std::vector<uint8_t> count_bytes = store_->get(key);
    const size_t pieces = std::stoul(std::string(count_bytes.begin(), count_bytes.end()));
    std::string value_read;
    for (size_t i = 0; i < pieces; ++i) {
      const std::vector<uint8_t> bytes = store_->get(key + "/" + std::to_string(i));
      value_read.append(bytes.begin(), bytes.end());
    }
    // The last reader frees rank 0's memory (an optimiser state can be hundreds of megabytes).
    if (store_->add(key + "/read", 1) == env_.world_size - 1) {
      for (size_t i = 0; i < pieces; ++i) store_->deleteKey(key + "/" + std::to_string(i));
      store_->deleteKey(key);
    }
    return value_read;
  }

  std::unique_ptr<GradientAverager> gradient_averager(const std::vector<torch::Tensor>& params) override {
    return std::make_unique<ReducerAverager>(params, pg_);
  }

 private:
  DistributedEnv env_;
  int shares_ = 0;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
};

}  // namespace

ProcessGroup* ProcessGroup::get(int timeout_seconds, bool cuda) {
  // One group for the life of the process: a k-fold run trains several models over the same group. It
  // is never destroyed: at exit the system closes its sockets, and no destructor waits on a peer that is
  // gone or runs after LibTorch's own static objects.
  static std::mutex mutex;
  static ProcessGroup* group = nullptr;
  std::lock_guard lock(mutex);
  const DistributedEnv& env = distributed_env();
  if (!env.active()) return nullptr;
  if (!group) group = new C10dProcessGroup(env, timeout_seconds, cuda);
  return group;
}

}  // namespace genrenet
