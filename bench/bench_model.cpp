// ResNet-18 speed at the paper's input size: inference, and training steps (forward + backward + Adam,
// lr 1e-4), batch 16 on 128x1024 spectrograms, fp32 and bf16 autocast with channels_last. Prints one JSON
// object per measurement, like ../shared/reference/pytorch_baseline.py train / infer.
//   bench_model [--threads N] [--batch B] [--steps S] [--arch resnet18] [--channels 1|3|both]
//               [--freeze-children N] [--modes fp32,bf16_cl]
// With --freeze-children 8 (the paper's best configuration) only fc trains: frozen layers need no
// gradients, and their batch norms stay in eval mode, as in training.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/model.h>

using namespace genrenet;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int batch = 16, steps = 5;
  std::string arch = "resnet18", channels = "both", modes = "fp32,bf16_cl";
  FreezeOptions freeze_options;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steps")) steps = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--arch")) arch = argv[i + 1];
    else if (!std::strcmp(argv[i], "--channels")) channels = argv[i + 1];
    else if (!std::strcmp(argv[i], "--freeze-children")) freeze_options.children = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--modes")) modes = argv[i + 1];
  }
  tune_allocator_for_batch_work();
  at::set_num_threads(threads);
  std::vector<int> channel_list = channels == "both" ? std::vector<int>{3, 1} : std::vector<int>{std::stoi(channels)};
  for (int ch : channel_list)
    for (std::string mode : {"fp32", "bf16_cl"}) {
      if (modes.find(mode) == std::string::npos) continue;
      const bool bf16 = mode == "bf16_cl";
      torch::manual_seed(0);
      ModelOptions o;
      o.arch = arch;
      o.input_channels = ch;
      ResNet model = make_model(o);
      auto x = torch::randn({batch, ch, 128, 1024});
      auto y = torch::randint(0, 10, {batch}, torch::kInt64);
      if (bf16) {
        to_channels_last(*model);
        x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      }
      // Training steps.
      freeze(model, freeze_options);
      std::vector<torch::Tensor> trainable;
      for (auto& p : model->parameters())
        if (p.requires_grad()) trainable.push_back(p);
      torch::optim::Adam opt(trainable, torch::optim::AdamOptions(1e-4));
      set_training_mode(model, true, freeze_options);
      std::vector<double> times;
      for (int i = 0; i < steps + 2; ++i) {
        auto t = Clock::now();
        opt.zero_grad();
        torch::Tensor loss;
        {
          Bf16Autocast ac(bf16);
          loss = torch::nn::functional::cross_entropy(model->forward(x), y);
        }
        loss.backward();
        opt.step();
        if (i >= 2) times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
      }
      double step = median(times);
      std::printf("%s\n", nlohmann::json({{"bench", "train_step"}, {"impl", "genrenet"}, {"arch", arch},
                                          {"mode", mode}, {"input_channels", ch}, {"threads", threads},
                                          {"batch", batch}, {"frozen_children", freeze_options.children}, {"step_s", step}, {"clips_per_s", batch / step},
                                          {"epoch800_s", 800 / (batch / step)}})
                              .dump()
                              .c_str());
      std::fflush(stdout);
      // Inference.
      model->eval();
      times.clear();
      {
        torch::NoGradGuard ng;
        Bf16Autocast ac(bf16);
        for (int i = 0; i < steps + 1; ++i) {
          auto t = Clock::now();
          model->forward(x);
          if (i >= 1) times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
        }
      }
      std::printf("%s\n", nlohmann::json({{"bench", "infer"}, {"impl", "genrenet"}, {"arch", arch}, {"mode", mode},
                                          {"input_channels", ch}, {"threads", threads}, {"batch", batch},
                                          {"clips_per_s", batch / median(times)}})
                              .dump()
                              .c_str());
      std::fflush(stdout);
    }
  return 0;
}
