// The journal of `genrenet tag` (SQLite): one row per file, keyed by its absolute path, with the content hash
// before and after genrenet wrote it and every value the field had before genrenet's first write (so that
// undo restores them); and the writes in progress (pending): committed before a file changes, so that the
// next run knows whether a kill or a full disk stopped one half-way, and finishes or discards it.
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
  std::string to_json() const;
  static JournalRow from_json(const std::string& json, const std::string& origin);
};

// A write between its journal commit and the row that records it as done. The file holds sha256_before
// until the write reaches it and sha256_after once it has; in between only when phase is "copy back" (a
// hard-linked file rewritten in place), whose complete new content is in `copy` until it is done.
struct PendingWrite {
  std::string path;           // absolute, as JournalRow::path
  std::string phase;          // "replace" (an atomic rename) or "copy back" (rewritten in place)
  std::string sha256_before, sha256_after;
  std::string copy;           // the checked, tagged working copy
  JournalRow row;             // what the journal records once the file holds sha256_after
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
  // A random name of this journal (made when it is created): part of its working copies' names, so that two
  // journals never share one.
  std::string id() const;
  std::optional<JournalRow> find(const std::string& path) const;
  // Inserts or replaces the row of row.path, committed (durable) when it returns.
  void put(const JournalRow& row);
  std::vector<JournalRow> rows(const std::string& status) const;

  // Writes in progress: begin() before the file changes, set_phase() before a copy back begins, finish()
  // (the row recorded and the pending write dropped, in one transaction) once the file holds sha256_after,
  // drop() when the file never changed.
  void begin(const PendingWrite& w);
  void set_phase(const std::string& path, const std::string& phase);
  void finish(const PendingWrite& w);
  void drop(const std::string& path);
  std::optional<PendingWrite> pending(const std::string& path) const;
  std::vector<PendingWrite> all_pending() const;

  struct Impl;  // (in tag_journal.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace genrenet::tags
