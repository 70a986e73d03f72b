// genrenet tag: classify a library's files and write the answers into their tags, journalled and undoable.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <regex>

#include <nlohmann/json.hpp>

#include <genrenet/compute.h>
#include <genrenet/library.h>

#include "common/parallel.h"
#include "common/sha256.h"
#include "eval/embedding_store.h"
#include "library/audio_tags.h"
#include "library/tag_journal.h"

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

}  // namespace

void TagOptions::validate() const {
  if (format.empty()) throw Error("format", "must not be empty");
  static const std::regex placeholder(R"(\{[^}]*\})");
  for (auto it = std::sregex_iterator(format.begin(), format.end(), placeholder); it != std::sregex_iterator(); ++it)
    if (const std::string p = it->str(); p != "{genre}" && p != "{Genre}" && p != "{confidence}")
      throw Error("format", "unknown placeholder " + p + ": use {genre}, {Genre} or {confidence}");
  if (write && journal.empty()) throw Error("journal", "is needed to write tags (it is what undo restores from)");
  if (group < 1 || group > 4096) throw Error("group", "must be in [1, 4096]");
  windows.validate();
}

void TagReport::count(const TagOutcome& o) {
  const std::pair<const char*, int*> counters[] = {{"would write", &would_write}, {"written", &written},
                                                   {"unchanged", &unchanged},     {"left alone", &left_alone},
                                                   {"done before", &done_before}, {"error", &errors},
                                                   {"restored", &restored}};
  for (const auto& [status, n] : counters)
    if (o.status == status) ++*n;
}

std::string read_tag(const std::filesystem::path& file, TagField field) { return tags::read_field(file, field).shown(); }

TagReport tag_files(const Classifier& classifier, const std::filesystem::path& model_file,
                    const std::vector<std::filesystem::path>& files, const TagOptions& o,
                    const std::function<void(const TagOutcome&)>& each, const std::function<void(std::size_t)>& done) {
  o.validate();
  std::optional<tags::TagJournal> journal;
  if (o.write)
    journal.emplace(o.journal, tags::TagJournal::Mode::create, field_name(o.field));
  else if (!o.journal.empty() && std::filesystem::exists(o.journal))
    journal.emplace(o.journal, tags::TagJournal::Mode::read_only, field_name(o.field));
  // What decides a file's value: a rerun under another rule decides again, under the same one skips.
  const auto described = nlohmann::json::parse(classifier.describe_json());
  const auto& calibration = described.at("calibration");  // null for an uncalibrated model
  const std::string rule = nlohmann::json({{"model", weights_sha256(model_file)},
                                           {"format", o.format},
                                           {"unknown", described.at("unknown")},
                                           {"calibrated", calibration.is_object() && calibration.value("applied", false)},
                                           {"windows", {o.windows.windows, o.windows.window_seconds, o.windows.hop_seconds}}})
                               .dump();
  TagReport report;
  auto emit = [&](TagOutcome&& out) {
    report.count(out);
    if (each) each(out);
    if (done) done(1);
  };
  const int threads = resolve_threads(0);
  for (size_t begin = 0; begin < files.size(); begin += static_cast<size_t>(o.group)) {
    if (o.stop && o.stop->load()) {
      report.interrupted = true;
      break;
    }
    const size_t end = std::min(files.size(), begin + static_cast<size_t>(o.group));
    // A write that a kill stopped half-way into a hard-linked file is finished first (its tagged copy is
    // complete beside it); then content hashes on every core (they key the journal), then the files not
    // finished before, classified.
    std::vector<std::optional<tags::JournalRow>> rows(end - begin);
    for (size_t k = 0; k < end - begin; ++k)
      if (journal && std::filesystem::exists(tags::working_copy(files[begin + k]))) {
        rows[k] = journal->find(absolute_name(files[begin + k]));
        if (o.write && rows[k] && rows[k]->status == "written") tags::finish_interrupted_write(files[begin + k], rows[k]->sha256_after);
      }
    std::vector<std::string> sha(end - begin), error(end - begin);
    parallel_for(end - begin, threads, [&](size_t k) {
      try {
        sha[k] = sha256_file(files[begin + k]);
      } catch (const std::exception& e) {
        error[k] = e.what();
      }
    });
    // Outcomes are reported in the order of `files`, a group at a time.
    std::vector<std::optional<TagOutcome>> decided(end - begin);
    auto report_group = [&] {
      for (auto& o : decided)
        if (o) emit(std::move(*o));
    };
    std::vector<std::filesystem::path> todo;
    std::vector<size_t> todo_index;
    for (size_t k = 0; k < end - begin; ++k) {
      const auto& file = files[begin + k];
      if (!error[k].empty()) {
        decided[k] = TagOutcome{file, "error", "", "", "", 0, error[k]};
        continue;
      }
      if (journal && !rows[k]) rows[k] = journal->find(absolute_name(file));  // (found already if it had a working copy)
      if (rows[k] && finished(*rows[k], rule, sha[k])) {
        const auto& r = *rows[k];
        decided[k] = TagOutcome{file, "done before", "", r.new_value, r.genre, r.confidence,
                                "finished by an earlier run: " + r.status};
        continue;
      }
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
      const auto& file = todo[t];
      const FileClassification& a = answers[t];
      if (!a.error.empty()) {
        decided[k] = TagOutcome{file, "error", "", "", "", 0, a.error};
        continue;
      }
      const Classification& c = a.result;
      TagOutcome out{file, "", "", "", c.genre, c.ranked.empty() ? 0.0 : c.ranked.front().probability, ""};
      tags::JournalRow row{absolute_name(file), sha[k], "", "", rule, "", "", c.genre, "", out.confidence};
      try {
        const tags::FieldValues now = tags::read_field(file, o.field);
        out.old_value = now.shown();
        if (c.genre == Classification::kUnknown) {
          out.status = "left alone";
          out.message = c.unknown_reason;
        } else {
          out.new_value = render(o.format, c.genre, out.confidence);
          if (now.all_say(out.new_value)) {
            out.status = "unchanged";
          } else if (!o.write) {
            out.status = "would write";
          } else {
            // Undo restores what the file held before genrenet first wrote it, also across reruns.
            const auto& before = rows[k];
            row.old_values = before && before->status == "written" && before->sha256_after == sha[k] ? before->old_values : now.to_json();
            row.status = "written";
            row.new_value = out.new_value;
            tags::write_safely(file, o.field, now.with_value(out.new_value), [&](const std::string& after) {
              row.sha256_after = after;
              journal->put(row);
            });
            out.status = "written";
          }
        }
        if (o.write && out.status != "written") {
          row.status = out.status;
          row.message = out.message;
          row.new_value = out.new_value;
          journal->put(row);
        }
      } catch (const Error& e) {
        out.status = "error";
        out.message = e.what();
      }
      decided[k] = std::move(out);
    }
    report_group();
  }
  return report;
}

TagReport undo_tags(const std::filesystem::path& journal_file, const std::function<void(const TagOutcome&)>& each) {
  tags::TagJournal journal(journal_file, tags::TagJournal::Mode::existing, "");
  const TagField field = journal.field() == "comment" ? TagField::comment : TagField::genre;
  TagReport report;
  auto emit = [&](TagOutcome&& out) {
    report.count(out);
    if (each) each(out);
  };
  // "restored" rows too: a run killed between its journal entry and the rename left the written content.
  std::vector<tags::JournalRow> rows = journal.rows("written");
  for (auto& r : journal.rows("restored")) rows.push_back(std::move(r));
  for (tags::JournalRow& row : rows) {
    const bool was_restored = row.status == "restored";
    const std::string written = was_restored ? row.sha256_before : row.sha256_after;
    TagOutcome out{row.path, "restored", row.new_value, "", row.genre, row.confidence, ""};
    try {
      const tags::FieldValues old = tags::FieldValues::from_json(row.old_values, journal_file.string());
      out.new_value = old.shown();
      tags::finish_interrupted_write(row.path, row.sha256_after);  // a kill in a hard-linked file's copy-back
      const std::string sha = sha256_file(row.path);
      if (was_restored && sha != written) continue;  // restored before
      if (!was_restored && sha == row.sha256_before) {  // the write never reached the file (a killed run)
        out.message = "it was never changed";
        row.status = "restored";
        row.sha256_before = "";  // nothing left to restore
        row.sha256_after = sha;
        journal.put(row);
        emit(std::move(out));
        continue;
      }
      if (sha != written)
        throw Error(row.path, "has changed since genrenet wrote its tag (its content is not what genrenet left): left as it is");
      tags::JournalRow restored = row;
      restored.status = "restored";
      restored.sha256_before = written;
      tags::write_safely(row.path, field, old, [&](const std::string& after) {
        restored.sha256_after = after;
        journal.put(restored);
      });
    } catch (const Error& e) {
      out.status = "error";
      out.message = e.what();
    }
    emit(std::move(out));
  }
  return report;
}

}  // namespace genrenet
