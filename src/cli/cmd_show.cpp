// genrenet show FILE : the paper's figures for one file, the waveform (Fig. 1) and the log-mel (Fig. 2).
#include <cstdio>

#include "cli/commands.h"

namespace genrenet::cli {

void add_show_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string file, waveform, mel, stage = "db";
    int width = 1200, height = 400;
    FeatureFlags features;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("show", "Draw an audio file's waveform and log-mel spectrogram as PNG");
  cmd->add_option("FILE", args->file, "Audio file")->required();
  cmd->add_option("--waveform", args->waveform, "PNG for the waveform (after resampling)");
  cmd->add_option("--mel", args->mel, "PNG for the log-mel spectrogram");
  cmd->add_option("--stage", args->stage, "db (log-mel in dB) or input (the standardised model input)")
      ->capture_default_str();
  cmd->add_option("--width", args->width, "Figure width in pixels")->capture_default_str()->check(CLI::Range(200, 8000));
  cmd->add_option("--height", args->height, "Figure height in pixels")->capture_default_str()->check(CLI::Range(150, 8000));
  args->features.add_to(cmd);
  cmd->callback([args, &exit_code] {
    if (args->waveform.empty() && args->mel.empty())
      throw Error("show", "nothing to draw: give --waveform PNG and/or --mel PNG");
    if (args->stage != "db" && args->stage != "input")
      throw Error("--stage", "must be db or input, got \"" + args->stage + "\"");
    FeatureExtractor fx(args->features.resolve());
    Audio audio = load_audio(args->file, fx.options().audio);
    std::string name = std::filesystem::path(args->file).filename().string();
    FigureOptions fig{args->width, args->height, ""};
    if (!args->waveform.empty()) {
      fig.title = "Waveform: " + name;
      plot_waveform(args->waveform, audio.samples, audio.sample_rate, fig);
      std::printf("wrote %s\n", args->waveform.c_str());
    }
    if (!args->mel.empty()) {
      bool db = args->stage == "db";
      Spectrogram s = db ? fx.log_mel(audio.samples) : fx.model_input(audio.samples);
      fig.title = (db ? "Log-mel spectrogram: " : "Model input (standardised, " +
                   std::to_string(s.n_mels) + "x" + std::to_string(s.n_frames) + "): ") + name;
      plot_spectrogram(args->mel, s, fx.options(), db, fig);
      std::printf("wrote %s\n", args->mel.c_str());
    }
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
