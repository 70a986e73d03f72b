// The rules of an answer, apart from the model (also compiled into the fuzz targets of the HTTP handlers):
// which windows are valid, and when a classification is "unknown".
#include <cstdio>
#include <string>

#include <genrenet/classifier.h>
#include <genrenet/compute.h>

#include "common/option_tables.h"

namespace genrenet {

const options::Table<UnknownOptions>& unknown_options_table() {
  static const auto table =
      options::Table<UnknownOptions>("answer option", "Answers")
          .number("min_confidence", &UnknownOptions::min_confidence, {0, 1},
                  "Answer \"unknown\" (the candidates still listed) when the top probability is below this (0: never)",
                  "--min-confidence")
          .param("min_confidence")
          .boolean("out_of_distribution", &UnknownOptions::out_of_distribution,
                   "Answer \"unknown\" when the audio's energy score is above the model's out-of-distribution threshold "
                   "(fitted on its validation clips)",
                   "--reject-ood")
          .param("reject_ood");
  return table;
}

const options::Table<WindowOptions>& window_options_table() {
  constexpr int overlap = WindowOptions::kMaxOverlap;
  static const auto table =
      options::Table<WindowOptions>("window option", "Windows")
          .boolean("windows", &WindowOptions::windows, "One centre crop instead of averaging windows over long audio",
                   "--no-windows", false)
          .param("windows")
          .number("window", &WindowOptions::window_seconds, {1, 900}, "Window length in seconds", "--window")
          .param("window")
          .number("hop", &WindowOptions::hop_seconds, {0, 900, true, false}, "Seconds between window starts", "--hop")
          .param("hop")
          // The cost of a classification grows with the windows' overlap: bounded, so that a tiny hop cannot
          // make one request cost thousands of inferences (hop=1e-300 made a 30-s clip take 18 s).
          .check([](const WindowOptions& w) {
            if (w.hop_seconds >= w.window_seconds / overlap) return std::string();
            return "must be at least window/" + std::to_string(overlap) + " = " + std::to_string(w.window_seconds / overlap) +
                   " seconds (at most " + std::to_string(overlap) + " windows overlap), got " + std::to_string(w.hop_seconds);
          })
          .boolean("per_window", &WindowOptions::per_window, "Also report each window's genres with its start and end",
                   "--per-window")
          .param("per_window");
  return table;
}

const options::Table<ClassifierOptions>& classifier_options_table() {
  static const auto table =
      options::Table<ClassifierOptions>("classifier option", "Classifier")
          .view(
              compute_options_table(),
              [](const ClassifierOptions& c) { return ComputeOptions{c.device, c.precision, c.threads}; },
              [](ClassifierOptions& c, const ComputeOptions& o) {
                c.device = o.device;
                c.precision = o.precision;
                c.threads = o.threads;
              })
          .integer("batch", &ClassifierOptions::batch, {1, 1024}, "Windows per model call", "--batch")
          .number("max_seconds", &ClassifierOptions::max_seconds, {0, 7 * 24 * 3600},
                  "Refuse longer audio (0: the model's own limit)")
          .boolean("calibrated", &ClassifierOptions::calibrated, "The raw softmax, without the model's fitted temperature",
                   "--no-calibration", false)
          .nest("unknown", &ClassifierOptions::unknown, unknown_options_table());
  return table;
}

void WindowOptions::validate() const { window_options_table().validate(*this); }

void UnknownOptions::validate() const { unknown_options_table().validate(*this); }

void Classification::decide(const UnknownOptions& u) {
  u.validate();
  genre = ranked.empty() ? "" : ranked[0].genre;
  unknown_reason.clear();
  char why[160];
  if (!ranked.empty() && u.min_confidence > 0 && ranked[0].probability < u.min_confidence) {
    std::snprintf(why, sizeof why, "confidence %.3f is below %.3f", ranked[0].probability, u.min_confidence);
    unknown_reason = why;
  } else if (u.out_of_distribution && out_of_distribution()) {
    std::snprintf(why, sizeof why, "out of distribution: energy %.3f is above the model's threshold %.3f", energy,
                  *energy_threshold);
    unknown_reason = why;
  }
  if (!unknown_reason.empty()) genre = kUnknown;
}

}  // namespace genrenet
