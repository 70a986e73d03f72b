// The journal of `genrenet tag` (SQLite): one row per file, keyed by its absolute path, with the content hash
// before and after genrenet wrote it and every value the field had before (so that undo restores them).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace genrenet::tags {

struct JournalRow {
  std::string path;            // absolute
  std::string sha256_before;   // the content genrenet found
  std::string sha256_after;    // the content genrenet left ("" when it wrote nothing)
  std::string status;          // "written", "unchanged", "left alone", "restored"
  std::string rule;            // what decided the value (model, format, unknown rule, windows): a rerun with
                               // another rule decides again
  std::string old_values;      // FieldValues::to_json of the field before genrenet first wrote it
  std::string new_value, genre, message;
  double confidence = 0;
};

class TagJournal {
 public:
  // How a journal is opened: created when missing (a run that writes), existing (undo), or read only (a
  // dry run: it only reports what an earlier run finished, and changes no byte of the journal).
  enum class Mode { create, existing, read_only };
  // An Error naming the file when it is not a genrenet tag journal, is damaged, or was made for another field
  // than `field` ("" for any).
  TagJournal(const std::filesystem::path& file, Mode mode, const std::string& field);
  ~TagJournal();
  TagJournal(TagJournal&&) noexcept;

  std::string field() const;
  std::optional<JournalRow> find(const std::string& path) const;
  // Inserts or replaces the row of row.path, committed (durable) when it returns.
  void put(const JournalRow& row);
  std::vector<JournalRow> rows(const std::string& status) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genrenet::tags
