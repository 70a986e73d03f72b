// genrenet experiments: every config of a folder (experiments/paper: the paper's Tables II-V), for several
// seeds, resuming what a previous call finished; a markdown table of the paper's figures beside ours.
#include <cstdio>

#include <genrenet/experiments.h>

#include "cli/commands.h"
#include "common/stop_signals.h"

namespace genrenet::cli {

void add_experiments_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string dir;
    ExperimentOptions o;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("experiments", "Run a folder of experiment configs (experiments/paper) and tabulate them");
  cmd->add_option("DIR", a->dir, "Folder of .toml/.json experiment configs")->required();
  cmd->add_option("--data", a->o.data, "Dataset folder")->required();
  cmd->add_option("--split", a->o.split, "paper, sturm, kfold:K or lists:... (default: each config's)");
  cmd->add_option("--split-dir", a->o.split_dir, "Folder of {train,valid,test}_filtered.txt for --split sturm");
  cmd->add_option("--seeds", a->o.seeds, "Seeds per experiment")->capture_default_str();
  cmd->add_option("--first-seed", a->o.first_seed,
                  "The first seed (--first-seed 4 --seeds 3: seeds 4, 5, 6; each a new k-fold partition)")
      ->capture_default_str();
  cmd->add_option("-o,--out", a->o.out, "Folder of the runs and RESULTS.md")->capture_default_str();
  cmd->add_option("--cache", a->o.cache, "Feature cache folder");
  cmd->add_option("--epochs", a->o.epochs, "Replace every config's epoch count (quick runs)");
  cmd->add_option("--pretrained", a->o.pretrained, "none (from scratch), imagenet or a weight file (default: each config's)");
  cmd->add_option("--precision", a->o.precision, "auto, fp32, fp32-cl or bf16 (default: each config's)");
  cmd->add_option("--only", a->o.only, "Experiment names to run (default: all)")->delimiter(',');
  cmd->callback([a, &exit_code] {
    const StopSignals signals;
    a->o.stop = signals.flag();  // the current epoch ends cleanly; the same command resumes
    auto results = run_experiments(a->dir, a->o);
    std::printf("\n%s\nwritten to %s/RESULTS.md\n", experiments_markdown(results, a->o).c_str(), a->o.out.c_str());
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
