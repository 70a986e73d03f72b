// genrenet tag: classify a library's files and write the answers into their tags, journalled and undoable.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <regex>
#include <set>
#include <span>

#include <nlohmann/json.hpp>

#include <genrenet/compute.h>
#include <genrenet/library.h>

#include "common/option_tables.h"
#include "common/parallel.h"
#include "common/sha256.h"
#include "io/file_copy.h"
#include "library/audio_tags.h"
#include "library/tag_journal.h"
#include "library/tag_write.h"

namespace genrenet {
namespace {

const char* field_name(TagField f) { return f == TagField::genre ? "genre" : "comment"; }

std::string absolute_name(const std::filesystem::path& p) { return std::filesystem::absolute(p).lexically_normal().string(); }

// The value TagOptions::format makes of an answer.
std::string render(const std::string& format, const std::string& genre, double confidence) {
  std::string capitalised = genre;
  if (!capitalised.empty()) capitalised[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(capitalised[0])));
  char p[16];
  std::snprintf(p, sizeof p, "%.2f", confidence);
  std::string out;
  for (size_t i = 0; i < format.size();) {
    if (format.compare(i, 7, "{genre}") == 0) {
      out += genre, i += 7;
    } else if (format.compare(i, 7, "{Genre}") == 0) {
      out += capitalised, i += 7;
    } else if (format.compare(i, 12, "{confidence}") == 0) {
      out += p, i += 12;
    } else {
      out += format[i++];
    }
  }
  return out;
}

// A file the journal has finished under the same rule, with the content it left.
bool finished(const tags::JournalRow& row, const std::string& rule, const std::string& sha256) {
  if (row.rule != rule) return false;
  if (row.status == "written") return sha256 == row.sha256_after;
  return (row.status == "unchanged" || row.status == "left alone") && sha256 == row.sha256_before;
}

// The journal's path: required when writing.
options::Field<TagOptions> journal_field() {
  options::Field<TagOptions> f;
  f.key = "journal";
  f.flag = "--journal";
  f.help = "The SQLite journal of old values (what undo restores; lets a rerun skip finished files); genrenet tag's: genrenet-tags.sqlite";
  f.rule = "a file path; required with write";
  f.get = [](const TagOptions& o) { return options::json(o.journal.string()); };
  f.set = [](TagOptions& o, const options::json& v) { o.journal = v.get<std::string>(); };
  f.set_text = [](TagOptions& o, const std::string& s) { o.journal = s; };
  f.problem = [](const TagOptions& o) {
    return o.write && o.journal.empty() ? std::string("is needed to write tags (it is what undo restores from)") : std::string();
  };
  return f;
}

}  // namespace

const options::Table<TagOptions>& tag_options_table() {
  static const options::Name<TagField> fields[] = {{TagField::genre, "genre"}, {TagField::comment, "comment"}};
  static const auto table =
      options::Table<TagOptions>("tag option", "Tags")
          .choice("field", &TagOptions::field, fields, "The field written", "--field")
          .text("format", &TagOptions::format, {}, "The value: {genre}, {Genre} (capitalised), {confidence} and any text",
                "--format")
          .check([](const TagOptions& o) {
            if (o.format.empty()) return std::string("must not be empty");
            static const std::regex placeholder(R"(\{[^}]*\})");
            for (auto it = std::sregex_iterator(o.format.begin(), o.format.end(), placeholder); it != std::sregex_iterator(); ++it)
              if (const std::string p = it->str(); p != "{genre}" && p != "{Genre}" && p != "{confidence}")
                return "unknown placeholder " + p + ": use {genre}, {Genre} or {confidence}";
            return std::string();
          })
          .boolean("write", &TagOptions::write,
                   "Write the tags (without it: a dry run that prints old -> new and touches nothing)", "--write")
          .boolean("only_untagged", &TagOptions::only_untagged,
                   "Fill only the files whose field is empty: a value already there is kept, never replaced",
                   "--only-untagged")
          .custom(journal_field())
          .integer("group", &TagOptions::group, {1, 4096}, "Files classified together before their tags are written")
          .nest("windows", &TagOptions::windows, window_options_table(), {"windows", "per_window"});
  return table;
}

void TagOptions::validate() const { tag_options_table().validate(*this); }

void TagReport::count(const TagOutcome& o) {
  const std::pair<const char*, int*> counters[] = {{"would write", &would_write}, {"written", &written},
                                                   {"unchanged", &unchanged},     {"left alone", &left_alone},
                                                   {"done before", &done_before}, {"error", &errors},
                                                   {"restored", &restored}};
  for (const auto& [status, n] : counters)
    if (o.status == status) ++*n;
}

std::string read_tag(const std::filesystem::path& file, TagField field) { return tags::read_field(file, field).shown(); }

namespace {

// One file's answer turned into an outcome, and into a write when writing. `prior` is the journal's row of
// the file (if any) and `sha` its content now.
TagOutcome apply_answer(const std::filesystem::path& file, const Classification& c, const std::string& sha,
                        const std::optional<tags::JournalRow>& prior, const std::string& rule, const TagOptions& o,
                        tags::TagJournal* journal) {
  TagOutcome out{file, "", "", "", c.genre, c.ranked.empty() ? 0.0 : c.ranked.front().probability, ""};
  tags::JournalRow row{absolute_name(file), sha, "", "", rule, "", "", c.genre, "", out.confidence};
  const tags::FieldValues now = tags::read_field(file, o.field);
  out.old_value = now.shown();
  // While genrenet's own earlier value is in the file, undo must still go back to what was there before
  // genrenet first wrote it, whatever this run decides: the row stays "written" with those values.
  const bool ours = prior && prior->status == "written" && (sha == prior->sha256_after || now.all_say(prior->new_value));
  row.old_values = ours ? prior->old_values : now.to_json();
  if (c.genre == Classification::kUnknown) {
    out.status = "left alone";
    out.message = c.unknown_reason;
  } else {
    out.new_value = render(o.format, c.genre, out.confidence);
    if (now.all_say(out.new_value)) {
      out.status = "unchanged";
    } else if (!o.write) {
      tags::check_writable(file);
      out.status = "would write";
    } else {
      row.status = "written";
      row.new_value = out.new_value;
      tags::write_journalled(*journal, file, o.field, now.with_value(out.new_value), row);
      out.status = "written";
      return out;
    }
  }
  if (!o.write) return out;
  row.status = ours ? "written" : out.status;
  row.sha256_after = ours ? sha : "";
  row.new_value = ours && out.status == "left alone" ? prior->new_value : out.new_value;
  row.message = out.message;
  journal->put(row);
  return out;
}

// Before a file is read: its folder locked and any write a kill or a full disk interrupted resolved (a
// dry run only reports one). "" when the file may be decided, else why not (an error outcome).
std::string prepare_file(const std::filesystem::path& file, const TagOptions& o, tags::TagJournal* journal,
                         tags::FolderLocks& locks) {
  if (const std::string dangling = io::dangling_link(file); !dangling.empty()) return file.string() + ": " + dangling;
  if (!journal) return "";
  try {
    if (!o.write)
      return journal->pending(absolute_name(file))
                 ? file.string() + ": a write to it was interrupted; genrenet tag --write with this journal finishes it first"
                 : "";
    locks.lock_folder_of(file);
    tags::resolve_pending(*journal, absolute_name(file));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// What decides a file's value: a rerun under another rule decides again, under the same one skips.
std::string tag_rule(const Classifier& classifier, const TagOptions& o) {
  const UnknownOptions& unknown = classifier.unknown();
  return nlohmann::json({{"model", classifier.identity().weights_sha256},
                         {"format", o.format},
                         {"unknown", {{"min_confidence", unknown.min_confidence},
                                      {"out_of_distribution", unknown.out_of_distribution}}},
                         {"calibrated", !classifier.calibration().empty() && classifier.applies_temperature()},
                         {"windows", {o.windows.windows, o.windows.window_seconds, o.windows.hop_seconds}}})
      .dump();
}

// The sha256 of each file's content on every core, where `error` has none yet (a failure becomes its error).
void hash_contents(std::span<const std::filesystem::path> files, int threads, std::vector<std::string>& sha,
                   std::vector<std::string>& error) {
  parallel_for(files.size(), threads, [&](size_t k) {
    if (!error[k].empty()) return;
    try {
      sha[k] = sha256_file(files[k]);
    } catch (const std::exception& e) {
      error[k] = e.what();
    }
  });
}

// A file whose outcome needs no answer: finished by an earlier run under this rule, or (only_untagged) one
// whose field holds a value — a file genrenet wrote before counts as untagged: its value is genrenet's.
std::optional<TagOutcome> decided_without_classifying(const std::filesystem::path& file,
                                                      const std::optional<tags::JournalRow>& row, const std::string& rule,
                                                      const std::string& sha, const TagOptions& o) {
  if (row && finished(*row, rule, sha))
    return TagOutcome{file, "done before", "", row->new_value, row->genre, row->confidence, "finished by an earlier run: " + row->status};
  if (!o.only_untagged || (row && row->status == "written")) return std::nullopt;
  try {
    if (const std::string now = tags::read_field(file, o.field).shown(); !now.empty())
      return TagOutcome{file, "left alone", now, "", "", 0,
                        std::string("has a ") + field_name(o.field) + " already (--only-untagged keeps it)"};
  } catch (const Error& e) {
    return TagOutcome{file, "error", "", "", "", 0, e.what()};
  }
  return std::nullopt;
}

}  // namespace

TagReport tag_files(const Classifier& classifier, const std::vector<std::filesystem::path>& files, const TagOptions& o,
                    const std::function<void(const TagOutcome&)>& each, const std::function<void(std::size_t)>& done) {
  o.validate();
  std::optional<tags::TagJournal> journal;
  if (o.write)
    journal.emplace(o.journal, tags::TagJournal::Mode::create, field_name(o.field));
  else if (!o.journal.empty() && std::filesystem::exists(o.journal))
    journal.emplace(o.journal, tags::TagJournal::Mode::read_only, field_name(o.field));
  tags::TagJournal* journal_ptr = journal ? &*journal : nullptr;
  const std::string rule = tag_rule(classifier, o);
  TagReport report;
  auto emit = [&](TagOutcome&& out) {
    report.count(out);
    if (each) each(out);
    if (done) done(1);
  };
  tags::FolderLocks locks;
  const int threads = resolve_threads(0);
  for (size_t begin = 0; begin < files.size(); begin += static_cast<size_t>(o.group)) {
    if (o.stop && o.stop->load()) {
      report.interrupted = true;
      break;
    }
    const size_t end = std::min(files.size(), begin + static_cast<size_t>(o.group));
    // Each file's folder locked and its interrupted write resolved before anything else touches it; then
    // content hashes on every core (they key the journal); then the files not finished before, classified.
    std::vector<std::string> sha(end - begin), error(end - begin);
    for (size_t k = 0; k < end - begin; ++k) error[k] = prepare_file(files[begin + k], o, journal_ptr, locks);
    hash_contents(std::span(files).subspan(begin, end - begin), threads, sha, error);
    // Outcomes are reported in the order of `files`, a group at a time.
    std::vector<std::optional<TagOutcome>> decided(end - begin);
    auto report_group = [&] {
      for (auto& out : decided)
        if (out) emit(std::move(*out));
    };
    std::vector<std::optional<tags::JournalRow>> rows(end - begin);
    std::vector<std::filesystem::path> todo;
    std::vector<size_t> todo_index;
    for (size_t k = 0; k < end - begin; ++k) {
      const auto& file = files[begin + k];
      if (!error[k].empty()) {
        decided[k] = TagOutcome{file, "error", "", "", "", 0, error[k]};
        continue;
      }
      if (journal) rows[k] = journal->find(absolute_name(file));
      decided[k] = decided_without_classifying(file, rows[k], rule, sha[k], o);
      if (decided[k]) continue;
      todo.push_back(file);
      todo_index.push_back(k);
    }
    const std::vector<FileClassification> answers = classifier.classify_files(todo, o.windows);
    for (size_t t = 0; t < todo.size(); ++t) {
      if (o.stop && o.stop->load()) {
        report.interrupted = true;
        report_group();
        return report;
      }
      const size_t k = todo_index[t];
      const FileClassification& a = answers[t];
      if (!a.error.empty()) {
        decided[k] = TagOutcome{todo[t], "error", "", "", "", 0, a.error};
        continue;
      }
      try {
        decided[k] = apply_answer(todo[t], a.result, sha[k], rows[k], rule, o, journal_ptr);
      } catch (const Error& e) {
        decided[k] = TagOutcome{todo[t], "error", "", "", a.result.genre, 0, e.what()};
      }
    }
    report_group();
  }
  return report;
}

namespace {

// Puts back the values one "written" row recorded (its write resolved already).
TagOutcome undo_row(tags::TagJournal& journal, const tags::JournalRow& row, TagField field, const std::string& origin,
                    tags::FolderLocks& locks) {
  TagOutcome out{row.path, "restored", row.new_value, "", row.genre, row.confidence, ""};
  try {
    const tags::FieldValues old = tags::FieldValues::from_json(row.old_values, origin);
    out.new_value = old.shown();
    locks.lock_folder_of(row.path);
    const std::string sha = sha256_file(row.path);
    tags::JournalRow restored = row;
    restored.status = "restored";
    restored.sha256_before = sha;
    restored.message = "";
    if (sha == row.sha256_before && row.sha256_before != row.sha256_after) {
      // The write never reached the file (a journal of an earlier release, killed before its rename).
      out.message = "it was never changed";
      restored.sha256_after = sha;
      journal.put(restored);
      return out;
    }
    const tags::FieldValues now = tags::read_field(row.path, field);
    if (sha != row.sha256_after && !now.all_say(row.new_value))
      throw Error(row.path, "has changed since genrenet wrote its tag: it now says \"" + now.shown() + "\", not genrenet's \"" +
                                row.new_value + "\": left as it is");
    tags::write_journalled(journal, row.path, field, old, restored);
  } catch (const Error& e) {
    out.status = "error";
    out.message = e.what();
  }
  return out;
}

}  // namespace

TagReport undo_tags(const std::filesystem::path& journal_file, const std::function<void(const TagOutcome&)>& each) {
  tags::TagJournal journal(journal_file, tags::TagJournal::Mode::existing, "");
  const TagField field = journal.field() == "comment" ? TagField::comment : TagField::genre;
  TagReport report;
  auto emit = [&](TagOutcome&& out) {
    report.count(out);
    if (each) each(out);
  };
  tags::FolderLocks locks;
  // Writes a kill or a full disk interrupted are resolved first (finished, or dropped); a file whose
  // write cannot be resolved now is reported and left alone.
  std::set<std::string> unresolved;
  for (const tags::PendingWrite& p : journal.all_pending()) try {
      locks.lock_folder_of(p.path);
      tags::resolve_pending(journal, p.path);
    } catch (const Error& e) {
      unresolved.insert(p.path);
      emit(TagOutcome{p.path, "error", "", "", p.row.genre, p.row.confidence, e.what()});
    }
  for (const tags::JournalRow& row : journal.rows("written"))
    if (!unresolved.count(row.path)) emit(undo_row(journal, row, field, journal_file.string(), locks));
  return report;
}

}  // namespace genrenet
