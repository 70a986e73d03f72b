// genrenet quantize | tune : int8 calibration of a model file, and the compute policy's measurements.
#include <cstdio>

#include <genrenet/inference.h>
#include <genrenet/train.h>

#include "cli/commands.h"

namespace genrenet::cli {
namespace {

void print_choice(const PrecisionChoice& c, const Workload& w) {
  std::printf("%s\n", w.key().c_str());
  std::printf("%-10s %12s\n", "precision", "clips/s");
  for (auto& t : c.timings) {
    if (t.error.empty()) std::printf("%-10s %12.1f%s%s\n", precision_name(t.precision).c_str(), t.clips_per_second,
                                     t.precision == c.precision ? "   <- chosen" : "",
                                     t.cut_short ? "   (cut short: far behind the leader)" : "");
    else std::printf("%-10s %12s   (%s)\n", precision_name(t.precision).c_str(), "failed", t.error.c_str());
  }
}

}  // namespace

void add_compute_commands(CLI::App& app, int& exit_code) {
  struct QuantizeArgs {
    std::string model, out;
    std::vector<std::string> data;
    int clips = 32;
    ComputeOptions compute;
    OptionFlags<ComputeOptions> compute_flags{compute_options_table(), {"threads"}};
  };
  auto q = std::make_shared<QuantizeArgs>();
  auto* quant = app.add_subcommand("quantize", "Calibrate a model for int8 inference (stored in the model file)");
  quant->add_option("--model,-m", q->model, "A genrenet model file (.safetensors)")->required();
  quant->add_option("--data", q->data, "Audio to calibrate on: the training data's folder, files or @lists")->required();
  quant->add_option("--clips", q->clips, "Files used, spread evenly over the sorted list (0: all)")
      ->capture_default_str()->check(CLI::Range(0, 1000000));
  quant->add_option("--out,-o", q->out, "Write the calibrated model here (default: the model file itself)");
  q->compute_flags.add_to(quant);
  quant->callback([q, &exit_code] {
    q->compute_flags.apply_checked(q->compute);
    QuantizeReport r = quantize_model_file(q->model, q->data, q->clips, q->out, q->compute.threads);
    std::printf("calibrated on %d windows of %d files (%d unreadable) in %.1f s; wrote %s\n", r.windows, r.files,
                r.files_skipped, r.seconds, (q->out.empty() ? q->model : q->out).c_str());
    std::printf("use it with --precision int8, or --precision auto where int8 is measured fastest\n");
    exit_code = 0;
  });

  struct TuneArgs {
    TrainingTuneOptions options;
    bool training = false;
    ComputeOptions compute;
    OptionFlags<ComputeOptions> compute_flags{compute_options_table(), {"threads"}};
  };
  auto args = std::make_shared<TuneArgs>();
  TrainingTuneOptions* t = &args->options;
  auto* tune = app.add_subcommand("tune", "Time every precision on this CPU, print clips/s and cache the fastest");
  tune->add_option("--model,-m", t->model_file, "A model file (default: an untrained --arch of the paper's shape)");
  tune->add_option("--arch", t->arch, "resnet18, resnet34, resnet50 or seresnet50 (without --model)")->capture_default_str();
  tune->add_option("--input-channels", t->input_channels, "1 or 3 (without --model)")->capture_default_str();
  tune->add_flag("--train", args->training, "Training steps instead of inference");
  tune->add_option("--freeze-children", t->freeze_children, "With --train: the first N top-level modules frozen")
      ->capture_default_str();
  tune->add_option("--batch", t->batch, "Batch size")->capture_default_str()->check(CLI::Range(1, 4096));
  args->compute_flags.add_to(tune);
  tune->callback([args, &exit_code] {
    args->compute_flags.apply_checked(args->compute);
    args->options.threads = args->compute.threads;
    if (!args->training) {
      const TuneResult r = tune_inference_precision(args->options);
      print_choice(r.choice, r.workload);
      exit_code = 0;
      return;
    }
    const TrainingTuneResult r = tune_training_precision(args->options);
    print_choice(r.choice, r.workload);
    if (r.trunk) {
      std::printf("\nthe frozen trunk (train runs it as an inference network: --trunk-precision auto)\n");
      print_choice(*r.trunk, r.trunk_workload);
    }
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
