// genrenet demo : the whole workflow on a synthetic dataset, with no download and no dataset.
#include <chrono>
#include <cstdio>

#include <genrenet/train.h>

#include "cli/commands.h"
#include "common/stop_signals.h"

namespace genrenet::cli {

void add_demo_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string out = "out/demo";
    int per_class = 40, epochs = 12;
    double seconds = 6;
    unsigned seed = 1;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("demo", "Synthesise ten genres, train ResNet-18 briefly, evaluate it, draw the figures");
  cmd->add_option("--out,-o", a->out, "Folder for the data, the run and the figures")->capture_default_str();
  cmd->add_option("--per-class", a->per_class, "Synthetic clips per genre")->capture_default_str()->check(CLI::Range(10, 1000));
  cmd->add_option("--seconds", a->seconds, "Clip length")->capture_default_str()->check(CLI::Range(2.0, 30.0));
  cmd->add_option("--epochs", a->epochs, "Training epochs")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->callback([a, &exit_code] {
    auto t0 = std::chrono::steady_clock::now();
    const std::filesystem::path out = a->out, data = out / "data", run = out / "run";
    std::printf("1/4 synthesising %d clips of %.0f s in 10 genres into %s\n", 10 * a->per_class, a->seconds, data.c_str());
    std::filesystem::remove_all(data);
    std::filesystem::remove_all(run);  // the demo's own run folder: each demo trains afresh
    write_synthetic_dataset(data, a->per_class, a->seconds, a->seed);
    TrainConfig c;
    c.data = data.string();
    c.out = run.string();
    c.cache = (out / "cache").string();
    c.epochs = a->epochs;
    c.lr = 1e-3;  // from scratch (no ImageNet weights here), a larger step than the paper's fine-tuning 1e-4
    c.seed = a->seed;
    c.specaugment = true;
    c.augment.time_mask_width = 24;  // the paper's 192 of 1024 frames, scaled to these shorter inputs
    c.augment.time_warp = 8;
    // Short clips: a model input of 192 frames (6.1 s) instead of 1024 (32.8 s).
    c.features.frames = static_cast<int>(a->seconds * 16000 / 512) + 4;
    std::printf("2/4 training ResNet-18 for %d epochs (log-mel %dx%d inputs, SpecAugment, Adam 1e-3)\n", c.epochs,
                c.features.n_mels, c.features.frames);
    const StopSignals signals;
    const TestedRun r = train_and_test(c, RunControl{.stop = signals.flag()});
    if (r.training.interrupted || !r.test) {
      exit_code = 130;
      return;
    }
    std::printf("3/4 evaluated on the held-out test clips\n");
    const Evaluation& e = *r.test;
    std::printf("4/4 drawing a SpecAugment preview\n");
    FeatureExtractor fx(c.features);
    auto clip = data / "disco" / "disco.00000.wav";
    Spectrogram before = fx.model_input(clip), after = before;
    std::mt19937 rng(a->seed);
    spec_augment(after, c.augment, rng);
    plot_augment_preview(out / "augment-preview.png", before, after, c.features, {1000, 320, "SpecAugment on disco.00000"});
    plot_spectrogram(out / "mel.png", fx.log_mel(load_audio(clip, c.features.audio).samples), c.features, true,
                     {1000, 360, "Log-mel spectrogram: disco.00000"});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\ntest accuracy %.1f%% on %d clips (%s)\n", 100 * e.accuracy, e.count,
                e.accuracy >= 0.9 ? "the synthetic genres are learnt" : "below 90%: try more --epochs");
    std::printf("figures: %s/confusion-test.png %s/curves.png %s/augment-preview.png %s/mel.png\n", run.c_str(),
                run.c_str(), out.c_str(), out.c_str());
    std::printf("model:   %s/best.safetensors  (try: genrenet predict --model %s/best.safetensors %s)\n", run.c_str(),
                run.c_str(), clip.c_str());
    std::printf("done in %.0f s\n", secs);
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
