// How `genrenet tag` (and its undo) changes a user's file, so that no kill, full disk or concurrent run can
// lose audio or the values undo needs (docs/RELIABILITY.md, "genre tags"):
//
//   1. a working copy beside the file (space reserved first) is tagged, checked to decode to exactly the
//      same samples and to read back the new values, given the file's mode and flushed;
//   2. the journal records the write as pending (the hashes before and after, the copy, the row to record);
//   3. the copy replaces the file: renamed over it, or — when the file has other hard links, which a rename
//      would cut off — written into the same inode, after the pending write's phase says "copy back" and
//      with the space for it reserved;
//   4. one journal transaction records the row and drops the pending write; the copy is removed.
//
// A run that finds a pending write for a file resolves it before anything else touches that file
// (resolve_pending): finished when the file already holds the new content, dropped when it still holds
// the old one, finished from the copy when a copy back was cut short, and the stale copy discarded when
// someone else changed the file since. A file whose pending write cannot be resolved (the disk still full)
// is reported and left alone, its copy kept.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "library/audio_tags.h"
#include "library/tag_journal.h"

namespace genrenet::tags {

// Where a journal's working copy of `file` goes: beside it (a rename is atomic only within one file system),
// hidden, named after the file and the journal (two journals never share a copy), or after a hash of the
// file's name when that would pass the file system's limit on a name's length.
std::filesystem::path working_copy(const std::filesystem::path& file, const std::string& journal_id);

// Error naming the file when genrenet would not write it: missing, a dangling symbolic link, not a regular
// file, or read-only (its mode bits too: root may write anything, but a file made read-only is meant to stay).
void check_writable(const std::filesystem::path& file);

// Writes `values` into `file` as above and records `row` (its sha256_after filled in). row.sha256_before
// must be the content the caller decided from: a file changed since is an Error, left as it is. Error naming
// the file for anything that stops the write; the file is then as it was, or — a copy back cut short — left
// to resolve_pending with its copy kept (the message says where).
void write_journalled(TagJournal& journal, const std::filesystem::path& file, TagField field, const FieldValues& values,
                      JournalRow row);

// Resolves a pending write of the file at `path` (absolute, as the journal keys it): nullopt when there
// was none (a leftover working copy of this journal is removed), else what was done for the report. Error naming the file (and its
// kept copy) when it cannot be resolved now: the caller leaves the file alone.
std::optional<std::string> resolve_pending(TagJournal& journal, const std::string& path);

// Advisory locks (flock) on the folders a run writes in, held until the run ends: a second `genrenet tag`
// (or undo) writing in the same folder at the same time is refused, file by file, instead of interleaving
// with the first (each would record the other's genre as the "old" value).
class FolderLocks {
 public:
  FolderLocks() = default;
  FolderLocks(const FolderLocks&) = delete;
  FolderLocks& operator=(const FolderLocks&) = delete;
  ~FolderLocks();
  // Takes (or already holds) the lock of the folder of `file`; Error naming the folder when another run
  // holds it.
  void lock_folder_of(const std::filesystem::path& file);

 private:
  std::map<std::filesystem::path, int> held_;
};

}  // namespace genrenet::tags
