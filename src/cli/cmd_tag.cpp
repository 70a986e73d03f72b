// genrenet tag: the model's genre written into each file's tags (a dry run unless --write), and --undo.
#include <cstdio>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>

#include "cli/commands.h"
#include "common/stop_signals.h"
#include "common/progress.h"
#include "common/text.h"

namespace genrenet::cli {
namespace {

struct TagArgs {
  std::string model, undo, report = "table", shard;
  std::vector<std::string> inputs;
  ClassifierOptions classifier;
  TagOptions tag;
  ClassifierFlags classifier_flags;
  OptionFlags<TagOptions> tag_flags{tag_options_table()};
};

// One line per file: a padded table on a terminal, or JSON lines for programs.
void print_outcome(const TagOutcome& o, bool table) {
  if (!table) {
    const nlohmann::json j = {{"file", utf8_safe(o.file.string())}, {"status", o.status},
                              {"old", utf8_safe(o.old_value)},      {"new", utf8_safe(o.new_value)},
                              {"genre", o.genre},                   {"confidence", o.confidence},
                              {"message", utf8_safe(o.message)}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::string line = "\"" + printable(o.old_value) + "\" -> \"" + printable(o.new_value) + "\"";
  if (o.status == "error") line = printable(o.message);
  else if (o.status == "left alone") line = "\"" + printable(o.old_value) + "\" kept: " + printable(o.message);
  else if (o.status == "done before") line = "\"" + printable(o.new_value) + "\" (" + printable(o.message) + ")";
  char confidence[32] = "";
  if (o.status != "error" && o.status != "restored" && !o.genre.empty())
    std::snprintf(confidence, sizeof confidence, "  [%s %.2f]", o.genre.c_str(), o.confidence);
  std::printf("%-12s %s  %s%s\n", o.status.c_str(), printable(o.file.string()).c_str(), line.c_str(), confidence);
}

int run_tag(TagArgs& a) {
  const bool table = a.report == "table";
  auto each = [&](const TagOutcome& o) {
    print_outcome(o, table);
    std::fflush(stdout);
  };
  if (!a.undo.empty()) {
    if (!a.inputs.empty() || !a.model.empty()) throw Error("--undo", "takes only the journal: no --model and no MUSIC_DIR");
    const TagReport r = undo_tags(a.undo, each);
    std::fprintf(stderr, "restored %d files from %s (%d errors)\n", r.restored, a.undo.c_str(), r.errors);
    return r.errors ? 1 : 0;
  }
  if (a.model.empty()) throw Error("--model", "is required (or --undo JOURNAL)");
  if (a.inputs.empty()) throw Error("MUSIC_DIR", "give the files or folders to tag");
  // A dry run reads the default journal too when it is there: files an earlier run finished say so.
  a.tag.journal = "genrenet-tags.sqlite";
  a.classifier_flags.apply_checked(a.classifier);
  a.tag_flags.apply_checked(a.tag);
  const StopSignals signals;  // the run ends after the file in hand
  a.tag.stop = signals.flag();
  a.tag.validate();
  const std::vector<std::filesystem::path> files = files_of_this_shard("tag", a.inputs, resolve_shard(a.shard));
  const Classifier clf(a.model, a.classifier);
  ProgressBar bar("tag", files.size(), table && files.size() > 8);
  const TagReport r = tag_files(clf, files, a.tag, each, [&](size_t n) { bar.tick(n); });
  bar.finish();
  std::fprintf(stderr, "%zu files: %d %s, %d unchanged, %d left alone, %d done before, %d errors%s\n", files.size(),
               a.tag.write ? r.written : r.would_write, a.tag.write ? "written" : "would be written", r.unchanged,
               r.left_alone, r.done_before, r.errors, r.interrupted ? " (interrupted: run it again to go on)" : "");
  if (a.tag.write)
    std::fprintf(stderr, "journal: %s (undo: genrenet tag --undo %s)\n", a.tag.journal.c_str(), a.tag.journal.c_str());
  else
    std::fprintf(stderr, "dry run: nothing was written (--write writes)\n");
  return r.interrupted ? 130 : r.errors ? 1 : 0;
}

}  // namespace

void add_tag_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<TagArgs>();
  auto* cmd = app.add_subcommand("tag", "Write each file's genre into its tags (dry run unless --write; journalled; --undo)");
  cmd->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)");
  cmd->add_option("MUSIC_DIR", a->inputs, "Audio files, folders (searched recursively) or @list.txt files");
  add_shard_option(cmd, a->shard);
  cmd->add_option("--undo", a->undo, "Restore every value a journal's run replaced, then stop");
  cmd->add_option("--report", a->report, "table or jsonl (one JSON object per file)")
      ->check(CLI::IsMember({"table", "jsonl"}))
      ->capture_default_str();
  a->tag_flags.add_to(cmd);
  a->classifier_flags.add_to(cmd);
  cmd->footer("Files whose answer is \"unknown\" (--min-confidence, --reject-ood) are left alone and listed. "
              "A file is never written in place: a tagged copy is checked to decode to the same samples, then renamed over it.");
  cmd->callback([a, &exit_code] { exit_code = run_tag(*a); });
}

}  // namespace genrenet::cli
