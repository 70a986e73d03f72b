// The compute policy's key for a training run's measurements (genrenet/compute.h): its model's shape, batch
// and threads; shared by training's precision and the frozen trunk's.
#pragma once

#include <string>

#include <genrenet/compute.h>
#include <genrenet/train.h>

namespace genrenet {

inline Workload training_workload(const std::string& kind, const TrainConfig& config, const ModelOptions& mo, int threads) {
  Workload w;
  w.kind = kind;
  w.arch = mo.arch;
  w.input_channels = mo.input_channels;
  w.n_mels = config.features.n_mels;
  w.frames = config.features.frames;
  w.batch = config.batch;
  w.threads = threads;
  return w;
}

}  // namespace genrenet
