// The genrenet command-line program: parsing and printing only; the work is in the library.
#include <cstdio>

#include <genrenet/compute.h>
#include <genrenet/distributed.h>

#include "cli/commands.h"

int main(int argc, char** argv) {
  genrenet::tune_allocator_for_batch_work();
  // The library's reports: its results on stdout, beside what the commands print; the rest on stderr.
  genrenet::set_log_callback([](genrenet::LogLevel level, const std::string& message) {
    const std::string line = genrenet::log_line(level, message) + "\n";
    std::FILE* to = level == genrenet::LogLevel::Result ? stdout : stderr;
    std::fwrite(line.data(), 1, line.size(), to);
    std::fflush(to);
  });
  CLI::App app{"genrenet: music genre classification with residual networks on log-mel spectrograms"};
  // Which LibTorch line this build runs on (Debian's 1.13 or a 2.x): bug reports and benchmarks need it.
  app.set_version_flag("--version", "genrenet 0.1.0 (LibTorch " + genrenet::libtorch_version() + ")");
  app.require_subcommand(1);
  int exit_code = 0;
  genrenet::cli::add_demo_command(app, exit_code);
  genrenet::cli::add_features_command(app, exit_code);
  genrenet::cli::add_show_command(app, exit_code);
  genrenet::cli::add_example_clip_command(app, exit_code);
  genrenet::cli::add_weights_command(app, exit_code);
  genrenet::cli::add_synth_command(app, exit_code);
  genrenet::cli::add_prepare_command(app, exit_code);
  genrenet::cli::add_augment_preview_command(app, exit_code);
  genrenet::cli::add_train_command(app, exit_code);
  genrenet::cli::add_evaluate_command(app, exit_code);
  genrenet::cli::add_calibrate_command(app, exit_code);
  genrenet::cli::add_embed_command(app, exit_code);
  genrenet::cli::add_tag_command(app, exit_code);
  genrenet::cli::add_index_commands(app, exit_code);
  genrenet::cli::add_predict_command(app, exit_code);
  genrenet::cli::add_explain_command(app, exit_code);
  genrenet::cli::add_serve_command(app, exit_code);
  genrenet::cli::add_experiments_command(app, exit_code);
  genrenet::cli::add_compute_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // The workers of a data-parallel run say which one they are.
    int rank = -1;
    try {
      if (genrenet::distributed_env().active()) rank = genrenet::distributed_env().rank;
    } catch (const std::exception&) {
      // a malformed RANK or WORLD_SIZE is the error being reported
    }
    if (rank >= 0) std::fprintf(stderr, "error: [rank %d] %s\n", rank, e.what());
    else std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
