// The flags that say how far to trust an answer: calibration on or off, and when to answer "unknown".
#include "cli/commands.h"

namespace genrenet::cli {

void add_confidence_flags(CLI::App* cmd, ClassifierOptions& o) {
  cmd->add_flag("--no-calibration", [&o](int64_t) { o.calibrated = false; },
                "The raw softmax, without the model's fitted temperature");
  cmd->add_option("--min-confidence", o.unknown.min_confidence,
                  "Answer \"unknown\" (the candidates still listed) when the top probability is below this, [0, 1]")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--reject-ood", o.unknown.out_of_distribution,
                "Answer \"unknown\" when the audio's energy score is above the model's out-of-distribution threshold "
                "(fitted on its validation clips)");
}

}  // namespace genrenet::cli
