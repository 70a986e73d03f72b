#include <cstdio>

#include "cli/commands.h"

namespace genrenet::cli {

void add_example_clip_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string out;
    double seconds = 30;
    int rate = 22050;
    unsigned seed = 1;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("example-clip", "Synthesise a short piece of music as a WAV file (no dataset needed)");
  cmd->add_option("OUT", args->out, "Output WAV file")->required();
  cmd->add_option("--seconds", args->seconds, "Length in seconds")->capture_default_str()->check(CLI::Range(0.1, 600.0));
  cmd->add_option("--sample-rate", args->rate, "Sample rate in Hz")->capture_default_str()->check(CLI::Range(1000, 384000));
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  cmd->callback([args, &exit_code] {
    auto samples = synthesize_example_clip(args->seconds, args->rate, args->seed);
    write_wav(args->out, samples, args->rate);
    std::printf("wrote %s (%.1f s, %d Hz, 16-bit mono)\n", args->out.c_str(), args->seconds, args->rate);
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
