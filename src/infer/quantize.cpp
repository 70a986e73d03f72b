// Int8 calibration: the activation ranges of a model's inference network over the windows of a few audio
// files, as prediction cuts them (each window a model input), stored in the model file.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <genrenet/classifier.h>
#include <genrenet/inference.h>

#include "audio/reused_audio.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/progress.h"
#include "compute/torch_threads.h"

namespace genrenet {

std::vector<std::filesystem::path> spread_selection(const std::vector<std::filesystem::path>& files, int count) {
  if (count <= 0 || static_cast<size_t>(count) >= files.size()) return files;
  // Evenly spaced over the sorted list: a dataset's class folders are each visited in turn.
  std::vector<std::filesystem::path> picked;
  for (int i = 0; i < count; ++i) picked.push_back(files[static_cast<size_t>(i) * files.size() / count]);
  return picked;
}

QuantizeReport quantize_model_file(const std::filesystem::path& model_path, const std::vector<std::string>& audio,
                                   int clips, const std::filesystem::path& out, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  ModelFile mf = read_model_file(model_path);
  const std::vector<std::filesystem::path> all = collect_audio_files(audio);
  if (all.empty()) throw Error(audio.empty() ? std::string("calibration audio") : audio.front(), "no audio files to calibrate on");
  const std::vector<std::filesystem::path> files = spread_selection(all, clips);
  threads = resolve_threads(threads);
  set_torch_threads(threads);

  // Features of every file first (in parallel), then the network over them in batches.
  const FeatureExtractor fx(mf.features);
  std::vector<std::vector<Spectrogram>> windows(files.size());
  QuantizeReport report;
  std::vector<std::string> errors(files.size());
  {
    ProgressBar bar("features", files.size());
    parallel_for(files.size(), threads, [&](size_t i) {
      try {
        const auto& samples = load_audio_reusing_buffers(files[i], mf.features.audio).samples;
        windows[i] = window_inputs(fx.log_mel(samples), mf.features, mf.features.frames, mf.features.frames / 2);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
      bar.tick(1);
    });
    bar.finish();
  }
  std::vector<Spectrogram> inputs;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!errors[i].empty()) {
      log(LogLevel::Warning, "skipped: " + errors[i]);
      ++report.files_skipped;
      continue;
    }
    ++report.files;
    for (auto& w : windows[i]) inputs.push_back(std::move(w));
  }
  if (inputs.empty()) throw Error(model_path.string(), "none of the calibration files could be read");

  ResNet model = load_model(mf);
  InferenceNet net(model);
  Int8Calibration cal;
  const size_t batch = 16;
  ProgressBar bar("calibrating", inputs.size());
  for (size_t i = 0; i < inputs.size(); i += batch) {
    const size_t n = std::min(batch, inputs.size() - i);
    net.observe(stack_spectrograms(std::span<const Spectrogram>(inputs).subspan(i, n), 1), cal);
    bar.tick(n);
  }
  bar.finish();
  report.windows = static_cast<int>(inputs.size());
  mf.int8 = cal;
  save_model_file(out.empty() ? model_path : out, mf);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace genrenet
