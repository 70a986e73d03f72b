// genrenet quantize | tune : int8 calibration of a model file, and the compute policy's measurements.
#include <cstdio>

#include <genrenet/inference.h>
#include <genrenet/train.h>

#include "cli/commands.h"
#include "eval/inference.h"

namespace genrenet::cli {
namespace {

struct TuneArgs {
  std::string model, arch = "resnet18";
  bool train = false;
  int batch = 16, threads = 0, freeze_children = 0, input_channels = 3;
};

void print_choice(const PrecisionChoice& c, const Workload& w) {
  std::printf("%s\n", w.key().c_str());
  std::printf("%-10s %12s\n", "precision", "clips/s");
  for (auto& t : c.timings) {
    if (t.error.empty()) std::printf("%-10s %12.1f%s\n", precision_name(t.precision).c_str(), t.clips_per_second,
                                     t.precision == c.precision ? "   <- chosen" : "");
    else std::printf("%-10s %12s   (%s)\n", precision_name(t.precision).c_str(), "failed", t.error.c_str());
  }
}

int run_tune(const TuneArgs& a) {
  const int threads = resolve_threads(a.threads);
  at::set_num_threads(threads);
  if (a.train) {
    TrainConfig config;
    config.data = "(tune)";
    config.batch = a.batch;
    config.threads = threads;
    config.freeze.children = a.freeze_children;
    ModelOptions mo;
    if (!a.model.empty()) {
      ModelFile mf = read_model_file(a.model);
      mo = mf.model;
      config.features = mf.features;
    } else {
      mo.arch = a.arch;
      mo.input_channels = a.input_channels;
    }
    config.model = mo;
    config.validate();
    Workload w;
    PrecisionChoice c = choose_training_precision(config, mo, threads, /*force_measure=*/true, &w);
    print_choice(c, w);
    return 0;
  }
  ModelFile mf;
  if (!a.model.empty()) {
    mf = read_model_file(a.model);
  } else {
    // An untrained network of the paper's shape: speed does not depend on the weights' values.
    mf.model.arch = a.arch;
    mf.model.input_channels = a.input_channels;
    mf.classes.resize(mf.model.num_classes);
    ResNet m = make_model(mf.model);
    m->eval();
    mf.weights = state_dict(*m);
  }
  if (mf.int8.empty()) {
    // So that int8 is timed too: ranges from random inputs (speed does not depend on them either).
    ResNet model = load_model(mf);
    torch::manual_seed(0);
    InferenceNet(model).observe(torch::randn({2, mf.model.input_channels, mf.features.n_mels, mf.features.frames}),
                                mf.int8);
  }
  Workload w;
  PrecisionChoice c;
  make_inference_net(mf, {"cpu", "auto", threads}, a.batch, &c, /*force_measure=*/true, &w);
  print_choice(c, w);
  return 0;
}

}  // namespace

void add_compute_commands(CLI::App& app, int& exit_code) {
  struct QuantizeArgs {
    std::string model, out;
    std::vector<std::string> data;
    int clips = 32, threads = 0;
  };
  auto q = std::make_shared<QuantizeArgs>();
  auto* quant = app.add_subcommand("quantize", "Calibrate a model for int8 inference (stored in the model file)");
  quant->add_option("--model,-m", q->model, "A genrenet model file (.safetensors)")->required();
  quant->add_option("--data", q->data, "Audio to calibrate on: the training data's folder, files or @lists")->required();
  quant->add_option("--clips", q->clips, "Files used, spread evenly over the sorted list (0: all)")
      ->capture_default_str()->check(CLI::Range(0, 1000000));
  quant->add_option("--out,-o", q->out, "Write the calibrated model here (default: the model file itself)");
  quant->add_option("--threads", q->threads, "Threads (0: all cores)")->capture_default_str();
  quant->callback([q, &exit_code] {
    QuantizeReport r = quantize_model_file(q->model, q->data, q->clips, q->out, q->threads);
    std::printf("calibrated on %d windows of %d files (%d unreadable) in %.1f s; wrote %s\n", r.windows, r.files,
                r.files_skipped, r.seconds, (q->out.empty() ? q->model : q->out).c_str());
    std::printf("use it with --precision int8, or --precision auto where int8 is measured fastest\n");
    exit_code = 0;
  });

  auto t = std::make_shared<TuneArgs>();
  auto* tune = app.add_subcommand("tune", "Time every precision on this CPU, print clips/s and cache the fastest");
  tune->add_option("--model,-m", t->model, "A model file (default: an untrained --arch of the paper's shape)");
  tune->add_option("--arch", t->arch, "resnet18, resnet34, resnet50 or seresnet50 (without --model)")->capture_default_str();
  tune->add_option("--input-channels", t->input_channels, "1 or 3 (without --model)")->capture_default_str();
  tune->add_flag("--train", t->train, "Training steps instead of inference");
  tune->add_option("--freeze-children", t->freeze_children, "With --train: the first N top-level modules frozen")
      ->capture_default_str();
  tune->add_option("--batch", t->batch, "Batch size")->capture_default_str()->check(CLI::Range(1, 4096));
  tune->add_option("--threads", t->threads, "Threads (0: all cores)")->capture_default_str();
  tune->callback([t, &exit_code] { exit_code = run_tune(*t); });
}

}  // namespace genrenet::cli
