// genrenet predict: genre probabilities of any audio (files, folders, lists), as a table, JSON lines or CSV.
#include <cstdio>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>

#include "cli/commands.h"
#include "common/progress.h"
#include "common/text.h"
#include "infer/classification_json.h"

namespace genrenet::cli {
namespace {

struct PredictArgs {
  std::string model, format = "table", shard;
  std::vector<std::string> inputs;
  int top = 3;
  WindowOptions w;  // after parsing: the window flags applied
  ClassifierFlags classifier_flags;
  WindowFlags window_flags;
};

std::string clock_time(double s) {
  char buf[32];
  const int t = static_cast<int>(s + 0.5);
  std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Prints one file's result in the chosen format. Table columns are aligned on `name_width`.
class Printer {
 public:
  Printer(const PredictArgs& a, const std::vector<std::string>& classes, size_t name_width)
      : a_(a), classes_(classes), width_(static_cast<int>(name_width)) {}

  void header() const {
    if (a_.format == "csv") {
      std::printf("file,window,start_s,end_s");
      for (int i = 1; i <= top(); ++i) std::printf(",genre_%d,probability_%d", i, i);
      std::printf(",error,answer\n");
    } else if (a_.format == "table") {
      std::printf("%-*s  %8s  %s\n", width_, "file", "duration", "genres (probability)");
    }
  }

  void row(const FileClassification& f) const {
    // File names may hold any byte: JSON and CSV get valid UTF-8 (other bytes as \xHH), a table on a
    // terminal no control characters either; the messages of errors carry names too.
    const bool table = a_.format == "table";
    const std::string name = table ? printable(f.file.string()) : utf8_safe(f.file.string());
    const std::string error = table ? printable(f.error) : utf8_safe(f.error);
    const Classification& r = f.result;
    if (a_.format == "jsonl") {
      nlohmann::json j = {{"file", name}};
      if (!f.error.empty()) {
        j["error"] = error;
      } else {
        j = classification_json(r, top());
        j["file"] = name;
        // "top": the key of genrenet 0.x for "ranked", kept one release for readers of the old form.
        j["top"] = j["ranked"];
        if (j.contains("per_window"))
          for (auto& w : j["per_window"]) w["top"] = w["ranked"];
      }
      std::printf("%s\n", j.dump().c_str());
    } else if (a_.format == "csv") {
      if (!f.error.empty()) {
        std::printf("%s,,,", csv_field(name).c_str());
        for (int i = 0; i < top(); ++i) std::printf(",,");
        std::printf(",%s,\n", csv_field(error).c_str());
        return;
      }
      csv_row(name, "all", 0, r.duration_seconds, r.ranked, r.genre);
      for (size_t i = 0; i < r.windows.size(); ++i)
        csv_row(name, std::to_string(i), r.windows[i].start_seconds, r.windows[i].end_seconds, r.windows[i].ranked, "");
    } else {
      if (!f.error.empty()) {
        std::printf("%-*s  %8s  error: %s\n", width_, name.c_str(), "-", error.c_str());
        return;
      }
      // An "unknown" answer still shows its candidates, after the reason.
      const std::string answer = r.genre == Classification::kUnknown ? "unknown (" + r.unknown_reason + "); candidates: " : "";
      std::printf("%-*s  %8s  %s%s\n", width_, name.c_str(), clock_time(r.duration_seconds).c_str(), answer.c_str(),
                  genres(r.ranked).c_str());
      for (auto& w : r.windows) {
        std::string span = "  " + clock_time(w.start_seconds) + "-" + clock_time(w.end_seconds);
        std::printf("%-*s  %8s  %s\n", width_, span.c_str(), "", genres(w.ranked).c_str());
      }
    }
    std::fflush(stdout);
  }

 private:
  int top() const { return std::min<int>(a_.top, static_cast<int>(classes_.size())); }
  std::string genres(const std::vector<GenreScore>& ranked) const {
    std::string s;
    char buf[160];
    for (int i = 0; i < top(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%-10s %.3f", i ? "   " : "", ranked[i].genre.c_str(), ranked[i].probability);
      s += buf;
    }
    return s;
  }
  void csv_row(const std::string& name, const std::string& window, double start, double end,
               const std::vector<GenreScore>& ranked, const std::string& answer) const {
    std::printf("%s,%s,%.2f,%.2f", csv_field(name).c_str(), window.c_str(), start, end);
    for (int i = 0; i < top(); ++i) std::printf(",%s,%.6f", csv_field(ranked[i].genre).c_str(), ranked[i].probability);
    std::printf(",,%s\n", csv_field(answer).c_str());
  }
  const PredictArgs& a_;
  const std::vector<std::string>& classes_;
  int width_;
};

int run_predict(PredictArgs& a) {
  WindowOptions& w = a.w;
  a.window_flags.apply_checked(w);
  w.validate();
  std::vector<std::filesystem::path> files = files_of_this_shard("predict", a.inputs, resolve_shard(a.shard));
  ClassifierOptions co;
  a.classifier_flags.apply_checked(co);
  Classifier clf(a.model, co);
  size_t width = 4;
  for (auto& f : files) width = std::max(width, f.string().size());
  width = std::min<size_t>(width, 72);
  Printer printer(a, clf.classes(), width);
  printer.header();
  ProgressBar bar("predict", files.size(), files.size() > 8);
  // Results are printed as each group of files finishes, so a long run shows its answers as it goes.
  const size_t group = 64;
  int failed = 0;
  for (size_t begin = 0; begin < files.size(); begin += group) {
    std::vector<std::filesystem::path> part(files.begin() + begin, files.begin() + std::min(files.size(), begin + group));
    for (auto& r : clf.classify_files(part, w, [&](size_t n) { bar.tick(n); })) {
      failed += !r.error.empty();
      printer.row(r);
    }
  }
  bar.finish();
  if (failed) std::fprintf(stderr, "%d of %zu files could not be classified\n", failed, files.size());
  return failed ? 1 : 0;
}

}  // namespace

void add_predict_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "Genre probabilities of audio files, folders or lists of files");
  cmd->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)")->required();
  cmd->add_option("INPUT", a->inputs, "Audio files, folders (searched recursively) or @list.txt files")->required();
  add_shard_option(cmd, a->shard);
  cmd->add_option("--top", a->top, "Genres shown per file")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--format", a->format, "table, jsonl or csv")->capture_default_str()
      ->check(CLI::IsMember({"table", "jsonl", "csv"}));
  cmd->add_flag("--json", [a](int64_t) { a->format = "jsonl"; }, "Same as --format jsonl");
  a->window_flags.add_to(cmd);
  a->classifier_flags.add_to(cmd);
  cmd->callback([a, &exit_code] { exit_code = run_predict(*a); });
}

}  // namespace genrenet::cli
