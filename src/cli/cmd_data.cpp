// genrenet synth | prepare | augment-preview : making, caching and looking at training data.
#include <cstdio>

#include <genrenet/data.h>

#include "cli/commands.h"

namespace genrenet::cli {

void add_synth_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string out;
    int per_class = 20, rate = 22050;
    double seconds = 30;
    unsigned seed = 1;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("synth", "Write a synthetic GTZAN-shaped dataset of ten procedural genres");
  cmd->add_option("--out,-o", a->out, "Output folder (<out>/<genre>/<genre>.000NN.wav)")->required();
  cmd->add_option("--per-class", a->per_class, "Clips per genre")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--seconds", a->seconds, "Length of each clip")->capture_default_str()->check(CLI::Range(0.5, 600.0));
  cmd->add_option("--sample-rate", a->rate, "Sample rate in Hz")->capture_default_str()->check(CLI::Range(8000, 192000));
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->callback([a, &exit_code] {
    int n = write_synthetic_dataset(a->out, a->per_class, a->seconds, a->seed, a->rate);
    std::printf("wrote %d clips of %.1f s in 10 genres to %s\n", n, a->seconds, a->out.c_str());
    exit_code = 0;
  });
}

void add_prepare_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string data, cache;
    int threads = 0;
    FeatureFlags features;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("prepare", "Compute every clip's log-mel once into the feature cache");
  cmd->add_option("--data", a->data, "Dataset folder")->required();
  cmd->add_option("--cache", a->cache, "Cache folder (default: ~/.cache/genrenet/features)");
  cmd->add_option("--threads,-j", a->threads, "Threads (0: all cores)")->capture_default_str();
  a->features.add_to(cmd);
  cmd->callback([a, &exit_code] {
    Dataset d = scan_dataset(a->data);
    FeatureCache cache(a->cache.empty() ? default_feature_cache_dir() : std::filesystem::path(a->cache),
                       a->features.resolve());
    std::vector<std::filesystem::path> files;
    for (auto& c : d.clips) files.push_back(c.path);
    auto r = cache.load(files, a->threads, "prepare");
    for (auto& e : r.errors)
      if (!e.empty()) std::fprintf(stderr, "warning: skipped: %s\n", e.c_str());
    std::printf("%zu clips in %zu classes under %s: %d computed, %d already cached, %d unreadable (skipped)\n",
                files.size(), d.classes.size(), d.root.string().c_str(), r.computed, r.reused, r.failed);
    std::printf("cache: %s\n", cache.dir().string().c_str());
    exit_code = 0;
  });
}

void add_augment_preview_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string file, out;
    unsigned seed = 1;
    OptionFlags<SpecAugmentOptions> aug{spec_augment_options_table()};
    FeatureFlags features;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("augment-preview", "Draw a clip's model input before and after SpecAugment (PNG)");
  cmd->add_option("FILE", a->file, "Audio file")->required();
  cmd->add_option("--out,-o", a->out, "PNG to write")->required();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  a->aug.add_to(cmd);
  a->features.add_to(cmd);
  cmd->callback([a, &exit_code] {
    SpecAugmentOptions aug;
    a->aug.apply(aug);
    aug.validate();
    FeatureExtractor fx(a->features.resolve());
    Spectrogram before = fx.model_input(std::filesystem::path(a->file));
    Spectrogram after = before;
    std::mt19937 rng(a->seed);
    auto r = spec_augment(after, aug, rng);
    plot_augment_preview(a->out, before, after, fx.options(),
                         {1200, 360, "SpecAugment: " + std::filesystem::path(a->file).filename().string()});
    std::printf("wrote %s (warp %d -> %d", a->out.c_str(), r.warp_from, r.warp_to);
    for (auto& m : r.freq_masks) std::printf(", freq mask %d+%d", m.start, m.width);
    for (auto& m : r.time_masks) std::printf(", time mask %d+%d", m.start, m.width);
    std::printf(")\n");
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
