// genrenet features FILE... : each file's tensor at a chosen stage of the pipeline, as .npy, with statistics.
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/compute.h>

#include "audio/reused_audio.h"
#include "cli/commands.h"
#include "common/parallel.h"
#include "common/progress.h"
#include "common/text.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/write_behind.h"

namespace genrenet::cli {
namespace {

struct Args {
  std::vector<std::string> files;
  std::string out = ".";
  std::string stage = "input";
  bool json = false;
  bool no_write = false;
  int threads = default_threads();
  FeatureFlags features;
};

struct Result {
  bool ok = false;
  std::string error;
  std::string output;
  std::vector<std::int64_t> shape;
  double duration = 0;
  int source_rate = 0, source_channels = 0;
  SpectrogramStats stats;
};

FeatureStage parse_stage(const std::string& s) {
  if (s == "resampled") return FeatureStage::Resampled;
  if (s == "mel") return FeatureStage::Mel;
  if (s == "db") return FeatureStage::Db;
  if (s == "input") return FeatureStage::Input;
  throw Error("--stage", "unknown stage \"" + s + "\" (allowed: resampled, mel, db, input)");
}

// Output names are the input's stem; a stem seen twice gets "-2", "-3", ... so no file is overwritten.
std::vector<std::string> output_names(const std::vector<std::string>& files, const std::string& dir) {
  std::map<std::string, int> seen;
  std::vector<std::string> out;
  for (auto& f : files) {
    std::string stem = std::filesystem::path(f).stem().string();
    int n = ++seen[stem];
    out.push_back((std::filesystem::path(dir) / (n == 1 ? stem : stem + "-" + std::to_string(n))).string() + ".npy");
  }
  return out;
}

// A file's tensor at the stage asked for, with what is printed of it (not yet written).
struct Computed {
  Result result;
  Spectrogram tensor;
};

Computed compute(const std::string& file, FeatureStage stage, const FeatureExtractor& fx) {
  Computed c;
  Result& r = c.result;
  try {
    const ReusedAudio& audio = load_audio_reusing_buffers(file, fx.options().audio);
    r.duration = audio.duration_seconds();
    r.source_rate = audio.source_sample_rate;
    r.source_channels = audio.source_channels;
    Spectrogram& s = c.tensor;
    switch (stage) {
      case FeatureStage::Resampled:
        s = Spectrogram{1, static_cast<int>(audio.samples.size()), {audio.samples.begin(), audio.samples.end()}};
        break;
      case FeatureStage::Mel: s = fx.mel_power(audio.samples); break;
      case FeatureStage::Db: s = fx.log_mel(audio.samples); break;
      case FeatureStage::Input: s = fx.model_input(audio.samples); break;
    }
    r.shape = stage == FeatureStage::Resampled ? std::vector<std::int64_t>{s.n_frames}
                                               : std::vector<std::int64_t>{s.n_mels, s.n_frames};
    r.stats = compute_stats(s);
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return c;
}

// Renamed into place whole, flushed to disk once for all files at the end (see run()).
void write(Computed& c, const std::string& output) {
  try {
    io::write_npy_file(output, c.tensor.data, c.result.shape, /*synced=*/false);
    c.result.output = output;
  } catch (const std::exception& e) {
    c.result.ok = false;
    c.result.error = e.what();
  }
}

void print(const std::string& raw_file, const Result& r, const std::string& stage, bool json) {
  // File names may hold any byte: JSON gets valid UTF-8 (other bytes as \xHH), a terminal no control
  // characters either; the messages of errors carry names too.
  const std::string file = json ? utf8_safe(raw_file) : printable(raw_file);
  if (json) {
    nlohmann::json j = {{"file", file}};
    if (!r.ok) {
      j["error"] = utf8_safe(r.error);
    } else {
      j.update({{"stage", stage}, {"shape", r.shape}, {"duration_s", r.duration},
                {"source_sample_rate", r.source_rate}, {"source_channels", r.source_channels},
                {"min", r.stats.min}, {"max", r.stats.max}, {"mean", r.stats.mean}, {"std", r.stats.std}});
      if (!r.output.empty()) j["output"] = utf8_safe(r.output);
    }
    std::printf("%s\n", j.dump().c_str());
  } else if (!r.ok) {
    std::fprintf(stderr, "error: %s\n", printable(r.error).c_str());
  } else {
    std::string shape;
    for (auto d : r.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    std::printf("%s  %.2f s  %s %s  min %.3f  max %.3f  mean %.4f  std %.4f%s%s\n", file.c_str(), r.duration,
                stage.c_str(), shape.c_str(), r.stats.min, r.stats.max, r.stats.mean, r.stats.std,
                r.output.empty() ? "" : "  -> ", printable(r.output).c_str());
  }
  std::fflush(stdout);
}

int run(const Args& a) {
  FeatureStage stage = parse_stage(a.stage);
  FeatureExtractor fx(a.features.resolve());
  auto outputs = output_names(a.files, a.out);
  std::vector<Result> results(a.files.size());
  std::vector<bool> done(a.files.size(), false);
  std::mutex print_mutex;
  size_t printed = 0;
  int failures = 0;
  ProgressBar bar("features", a.files.size(), !a.json && a.files.size() > 8);
  // Results are printed in the order given, as soon as each file is done (written, where it is written).
  auto complete = [&](size_t i, Result r) {
    std::lock_guard lock(print_mutex);
    results[i] = std::move(r);
    done[i] = true;
    bar.tick();
    while (printed < a.files.size() && done[printed]) {
      print(a.files[printed], results[printed], a.stage, a.json);
      if (!results[printed].ok) ++failures;
      results[printed] = Result{};
      ++printed;
    }
  };
  // Files are spread over threads; each file's writing runs behind the computation of the next ones.
  std::optional<io::WriteBehind> writer;
  if (!a.no_write) writer.emplace();
  parallel_for(a.files.size(), resolve_threads(a.threads), [&](size_t i) {
    Computed c = compute(a.files[i], stage, fx);
    if (!writer || !c.result.ok) return complete(i, std::move(c.result));
    writer->submit(std::packaged_task<void()>([&, i, c = std::move(c)]() mutable {
      write(c, outputs[i]);
      complete(i, std::move(c.result));
    }));
  });
  if (writer) writer->finish();
  bar.finish();
  if (!a.no_write) io::sync_file_system(a.out);
  if (failures && !a.json)
    std::fprintf(stderr, "%d of %zu files failed\n", failures, a.files.size());
  return failures ? 1 : 0;
}

}  // namespace

void add_features_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("features", "Compute each audio file's features and write them as .npy");
  cmd->add_option("FILE", args->files, "Audio files (wav, au, flac, ogg, mp3, ...)")->required();
  cmd->add_option("--out,-o", args->out, "Output folder for the .npy files")->capture_default_str();
  cmd->add_option("--stage", args->stage, "resampled, mel, db or input (standardised, fixed length)")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "One JSON object per file on stdout");
  cmd->add_flag("--no-write", args->no_write, "Print statistics only, write no files");
  cmd->add_option("--threads,-j", args->threads, "Files processed in parallel")->capture_default_str()
      ->check(CLI::Range(1, 1024));
  args->features.add_to(cmd);
  cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace genrenet::cli
