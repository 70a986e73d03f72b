// ResNet-18 speed at the paper's input size: inference (the batch-norm-folded InferenceNet), and training
// steps (forward + backward + Adam, lr 1e-4), batch 16 on 128x1024 spectrograms, in each precision: fp32,
// fp32 channels_last, bf16 autocast with channels_last, int8 (inference only). Prints one JSON object per
// measurement, like ../shared/reference/pytorch_baseline.py train / infer.
//   bench_model [--threads N] [--batch B] [--steps S] [--arch resnet18] [--channels 1|3|both]
//               [--freeze-children N] [--modes fp32,fp32-cl,bf16,int8] [--profile 1] [--device cpu|cuda]
// --profile 1 adds, after the timed steps, where a training step's and an inference's time goes: two more
// under LibTorch's profiler, self time (an op's time less that of the ops it calls) summed by op name (and,
// for inference, by the shape of its first input: which layer); --profile 2 names each op's caller too.
// With --freeze-children 8 (the paper's best configuration) only fc trains: frozen layers need no
// gradients, and their batch norms stay in eval mode, as in training.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include <torch/csrc/autograd/profiler_legacy.h>

#include <nlohmann/json.hpp>

#include <genrenet/compute.h>
#include <genrenet/inference.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

using namespace genrenet;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = s.find(',', start)) != std::string::npos; start = comma + 1) out.push_back(s.substr(start, comma - start));
  out.push_back(s.substr(start));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Self time per op name over the profiled events of every thread, in microseconds.
std::map<std::string, double> self_time_by_op(const torch::autograd::profiler::thread_event_lists& lists,
                                              bool with_callers, bool with_shapes) {
  using torch::autograd::profiler::EventKind;
  std::map<std::string, double> self;
  for (auto& events : lists) {
    struct Open {
      const torch::autograd::profiler::LegacyEvent* start;
      double children_us;
    };
    std::vector<Open> stack;
    for (auto& e : events) {
      if (e.kind() == EventKind::PushRange) {
        stack.push_back({&e, 0});
      } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        const double total = o.start->cpuElapsedUs(e);
        // With the caller's name too (--profile 2): which op a fill_ or copy_ belongs to.
        std::string name = o.start->name();
        if (with_callers && !stack.empty()) name += std::string(" <- ") + stack.back().start->name();
        if (with_shapes && !o.start->shapes().empty() && !o.start->shapes().front().empty())
          name += " " + c10::str(c10::IntArrayRef(o.start->shapes().front()));
        self[name] += total - o.children_us;
        if (!stack.empty()) stack.back().children_us += total;
      }
    }
  }
  return self;
}

// One training step: forward (bf16 autocast or fp32), cross-entropy, backward, Adam.
void training_step(ResNet& model, torch::optim::Adam& opt, const torch::Tensor& x, const torch::Tensor& y, bool bf16) {
  opt.zero_grad();
  torch::Tensor loss;
  {
    Bf16Autocast ac(bf16, x.is_cuda());
    loss = torch::nn::functional::cross_entropy(model->forward(x).to(torch::kFloat32), y);
  }
  loss.backward();
  opt.step();
  if (x.is_cuda()) torch::cuda::synchronize();  // a step's time is the GPU's, not the launch's
}

// Where a step's time goes: `step` run twice more under LibTorch's profiler, self time summed by op name (and
// with `with_callers`, the caller's name; with `with_shapes`, the op's first input's shape), the 14 largest
// printed as JSON lines tagged with `tags`, then the rest.
void profile_steps(const std::function<void()>& step, nlohmann::json tags, bool with_callers, bool with_shapes) {
  namespace prof = torch::autograd::profiler;
  const int steps = 2;
  prof::enableProfilerLegacy(
      torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU, with_shapes));
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double wall_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / steps;
  auto self = self_time_by_op(prof::disableProfilerLegacy(), with_callers, with_shapes);
  std::vector<std::pair<double, std::string>> ranked;
  double total = 0;
  for (auto& [name, us] : self) {
    ranked.push_back({us / steps, name});
    total += us / steps;
  }
  std::sort(ranked.rbegin(), ranked.rend());
  double shown = 0;
  auto line = [&](const std::string& op, double us) {
    nlohmann::json j = tags;
    j["op"] = op;
    j["self_ms"] = us / 1000;
    j["share"] = us / total;
    return j;
  };
  for (size_t i = 0; i < ranked.size() && i < 14; ++i) {
    shown += ranked[i].first;
    std::printf("%s\n", line(ranked[i].second, ranked[i].first).dump().c_str());
  }
  nlohmann::json rest = line("(all other ops)", total - shown);
  rest["step_ms_profiled"] = wall_us / 1000;
  std::printf("%s\n", rest.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int batch = 16, steps = 5;
  std::string arch = "resnet18", channels = "3", modes = "fp32,fp32-cl,bf16,int8";
  FreezeOptions freeze_options;
  int profile = 0;
  std::string device_name = "cpu";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steps")) steps = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--arch")) arch = argv[i + 1];
    else if (!std::strcmp(argv[i], "--channels")) channels = argv[i + 1];
    else if (!std::strcmp(argv[i], "--freeze-children")) freeze_options.children = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--modes")) modes = argv[i + 1];
    else if (!std::strcmp(argv[i], "--profile")) profile = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--device")) device_name = argv[i + 1];
  }
  const bool cuda = device_name == "cuda";
  if (cuda) {
    try {
      require_cuda_device();
    } catch (const Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
  }
  const torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (cuda) modes = modes == "fp32,fp32-cl,bf16,int8" ? "fp32,fp32-cl,bf16" : modes;  // int8 is LibTorch's CPU path
  tune_allocator_for_batch_work();
  at::set_num_threads(threads);
  const std::string cpu = cpu_model_name();
  std::vector<int> channel_list = channels == "both" ? std::vector<int>{3, 1} : std::vector<int>{std::stoi(channels)};
  for (int ch : channel_list)
    for (const std::string& mode : split_list(modes)) {
      const Precision precision = parse_precision(mode == "bf16_cl" ? "bf16" : mode);
      const bool bf16 = precision == Precision::Bf16, channels_last = uses_channels_last(precision);
      torch::manual_seed(0);
      ModelOptions o;
      o.arch = arch;
      o.input_channels = ch;
      ResNet model = make_model(o);
      model->to(device);
      auto x = torch::randn({batch, ch, 128, 1024}).to(device);
      auto y = torch::randint(0, 10, {batch}, torch::kInt64).to(device);
      if (precision != Precision::Int8) {  // int8 is for inference only
        if (channels_last) {
          to_channels_last(*model);
          x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        }
        freeze(model, freeze_options);
        std::vector<torch::Tensor> trainable;
        for (auto& p : model->parameters())
          if (p.requires_grad()) trainable.push_back(p);
        torch::optim::Adam opt(trainable, torch::optim::AdamOptions(1e-4));
        set_training_mode(model, true, freeze_options);
        std::vector<double> times;
        for (int i = 0; i < steps + 2; ++i) {
          auto t = Clock::now();
          training_step(model, opt, x, y, bf16);
          if (i >= 2) times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
        }
        double step = median(times);
        std::printf("%s\n", nlohmann::json({{"bench", "train_step"}, {"impl", "genrenet"}, {"arch", arch},
                                            {"mode", mode}, {"input_channels", ch}, {"threads", threads},
                                            {"batch", batch}, {"frozen_children", freeze_options.children}, {"step_s", step},
                                            {"clips_per_s", batch / step}, {"epoch800_s", 800 / (batch / step)}, {"cpu", cpu},
                                            {"device", device_name}})
                                .dump()
                                .c_str());
        std::fflush(stdout);
        if (profile)
          profile_steps([&] { training_step(model, opt, x, y, bf16); },
                        {{"bench", "train_step_profile"}, {"mode", mode}, {"frozen_children", freeze_options.children}},
                        profile == 2, /*with_shapes=*/false);
      }
      // Inference: the network with batch norm folded, at this precision (int8: calibrated on random inputs,
      // which does not change its speed).
      model->eval();
      InferenceNet net(model);
      if (cuda) net.to(device);
      Int8Calibration cal;
      // One channel, as the Classifier gives it (class_logits): a 3-channel model's channels repeat it.
      const torch::Tensor spectrogram = x.narrow(1, 0, 1).contiguous();
      if (precision == Precision::Int8) net.observe(spectrogram.narrow(0, 0, std::min<int64_t>(2, batch)), cal);
      net.set_precision(precision, &cal);
      std::vector<double> times;
      for (int i = 0; i < steps + 1; ++i) {
        auto t = Clock::now();
        net.forward(spectrogram);
        if (cuda) torch::cuda::synchronize();
        if (i >= 1) times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
      }
      std::printf("%s\n", nlohmann::json({{"bench", "infer"}, {"impl", "genrenet"}, {"arch", arch}, {"mode", mode},
                                          {"input_channels", ch}, {"threads", threads}, {"batch", batch},
                                          {"clips_per_s", batch / median(times)}, {"cpu", cpu}, {"device", device_name}})
                              .dump()
                              .c_str());
      if (profile)
        profile_steps([&] { net.forward(spectrogram); }, {{"bench", "infer_profile"}, {"mode", mode}, {"batch", batch}},
                      profile == 2, /*with_shapes=*/true);
      std::fflush(stdout);
    }
  return 0;
}
