// genrenet explain : why the model names a genre — Grad-CAM over the log-mel, as a picture and as numbers.
#include <cstdio>

#include <genrenet/classifier.h>

#include "cli/commands.h"
#include "io/atomic_file.h"

namespace genrenet::cli {

void add_explain_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string model, file, out;
    ExplainOptions o;
    bool json = false;
    ClassifierFlags classifier_flags{{"threads"}};
    WindowFlags window_flags{{"window", "hop"}};
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("explain", "Why the model names a genre: Grad-CAM over the spectrogram (PNG, JSON)");
  cmd->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)")->required();
  cmd->add_option("FILE", a->file, "An audio file of any length")->required();
  cmd->add_option("--genre", a->o.genre, "The genre to explain (default: the most probable)");
  cmd->add_option("--out,-o", a->out, "The picture (default: <file name>.explain.png here)");
  a->window_flags.add_to(cmd);
  a->classifier_flags.add_to(cmd);
  cmd->add_flag("--json", a->json, "Print the per-window shares of the map over time and frequency as JSON");
  cmd->callback([a, &exit_code] {
    ClassifierOptions co;
    a->classifier_flags.apply_checked(co);
    a->window_flags.apply_checked(a->o.windows);
    co.precision = "fp32";  // explanations run in fp32; classification is not asked for here
    const Classifier clf(a->model, co);
    const Explanation e = clf.explain_file(a->file, a->o);
    const std::string out =
        a->out.empty() ? std::filesystem::path(a->file).filename().string() + ".explain.png" : a->out;
    io::write_file_atomically(out, explanation_png(e, clf.features()));
    if (a->json) std::printf("%s\n", e.to_json().c_str());
    else std::printf("%s: %s (p = %.3f); the evidence drawn in %s\n", a->file.c_str(), e.genre.c_str(), e.probability, out.c_str());
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
