#include "library/tag_write.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "audio/same_audio.h"
#include "common/failpoint.h"
#include "common/sha256.h"
#include "io/atomic_file.h"
#include "io/file_copy.h"

namespace genrenet::tags {
namespace fs = std::filesystem;
namespace {

fs::path resolved(const fs::path& file) {
  std::error_code ec;
  fs::path target = fs::canonical(file, ec);
  return ec ? fs::absolute(file).lexically_normal() : target;
}

void remove_quietly(const fs::path& p) {
  std::error_code ignored;
  fs::remove(p, ignored);
}

// The working copy is removed on the way out, unless `keep` (it replaced the file, or it is the only
// complete copy of a file left half-rewritten).
struct CopyGuard {
  const fs::path& copy;
  bool keep = false;
  ~CopyGuard() {
    if (!keep) remove_quietly(copy);
  }
};

// Gives the copy the file's mode (and owner, where privileges allow) and flushes it.
void settle(const fs::path& copy, const struct stat& st) {
  const int fd = ::open(copy.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(copy.string(), "cannot be reopened");
  const bool ok = ::fchmod(fd, st.st_mode & 07777) == 0 && ::fsync(fd) == 0;
  [[maybe_unused]] const int owner = ::fchown(fd, st.st_uid, st.st_gid);  // best effort: needs privileges
  ::close(fd);
  if (!ok) throw Error(copy.string(), "cannot be given the file's mode or flushed");
}

// The checked copy: tagged, the same samples, the values read back.
void tag_and_check(const fs::path& file, const fs::path& copy, TagField field, const FieldValues& values) {
  write_field(copy, field, values);
  if (const std::string d = audio_difference(file, copy); !d.empty())
    throw Error(file.string(), "writing its tag would change its audio (" + d + "): left as it is");
  const FieldValues written = read_field(copy, field);
  for (const auto& [kind, list] : values.by_tag)
    for (const auto& [k2, l2] : written.by_tag)
      if (k2 == kind && kind != "id3v1" && l2 != list)
        throw Error(file.string(), "its " + kind + " tag does not read back what was written: left as it is");
}

std::string kept_copy_advice(const fs::path& copy) {
  return "its complete tagged copy is kept at " + copy.string() +
         "; free some space and run genrenet tag --write (or --undo) with the same journal again to finish it";
}

// A copy back cut short: finished from the kept copy, or an Error that says where the copy is.
void copy_back(const fs::path& copy, const fs::path& target, const std::string& name) {
  try {
    io::rewrite_in_place(copy, target, "copy-back");
  } catch (const Error& e) {
    throw Error(name, e.reason() + ": it is left half-rewritten; " + kept_copy_advice(copy));
  }
}

}  // namespace

fs::path working_copy(const fs::path& file, const std::string& journal_id) {
  const fs::path target = resolved(file);
  const std::string name = target.filename().string();
  std::string copy = "." + name + "." + journal_id + ".genrenet-tag.tmp";
  long limit = ::pathconf(target.parent_path().c_str(), _PC_NAME_MAX);
  if (limit <= 0) limit = 255;
  if (static_cast<long>(copy.size()) > limit) copy = ".genrenet-tag." + sha256_hex(name).substr(0, 16) + "." + journal_id + ".tmp";
  return target.parent_path() / copy;
}

void check_writable(const fs::path& file) {
  if (const std::string dangling = io::dangling_link(file); !dangling.empty()) throw Error(file.string(), dangling);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) throw Error(file.string(), "vanished or cannot be reached: " + std::string(std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw Error(file.string(), "is not a regular file");
  if ((st.st_mode & 0222) == 0 || ::access(file.c_str(), W_OK) != 0) throw Error(file.string(), "is read-only: left as it is");
}

void write_journalled(TagJournal& journal, const fs::path& file, TagField field, const FieldValues& values, JournalRow row) {
  check_writable(file);
  const fs::path target = resolved(file);  // symbolic links followed: the link stays a link
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0) throw Error(file.string(), "vanished: " + std::string(std::strerror(errno)));
  const fs::path copy = working_copy(target, journal.id());
  CopyGuard guard{copy};
  try {
    io::copy_file_reserved(target, copy, "copy");
  } catch (const Error& e) {
    throw Error(file.string(), "its folder refuses a working copy (" + e.reason() + "): left as it is");
  }
  failpoint("copy-made", file.string());
  if (sha256_file(copy) != row.sha256_before)
    throw Error(file.string(), "changed while genrenet was deciding its tag: left as it is (run again to decide anew)");
  tag_and_check(target, copy, field, values);
  settle(copy, st);
  PendingWrite w{row.path, "replace", row.sha256_before, sha256_file(copy), copy.string(), std::move(row)};
  w.row.sha256_after = w.sha256_after;
  failpoint("copy-checked", file.string());
  journal.begin(w);  // from here a kill is resolved by the next run (resolve_pending)
  failpoint("pending", file.string());
  if (st.st_nlink > 1) {
    // A rename would leave the file's other names on the old content: the bytes go into the same inode.
    journal.set_phase(w.path, "copy back");
    guard.keep = true;
    try {
      io::rewrite_in_place(copy, target, "copy-back");
    } catch (const Error& e) {
      if (sha256_file(target) == w.sha256_before) {  // refused before a byte changed (no space to grow it)
        journal.drop(w.path);
        guard.keep = false;
        throw Error(file.string(), e.reason() + ": left as it is");
      }
      throw Error(file.string(), e.reason() + ": it is left half-rewritten; " + kept_copy_advice(copy));
    }
  } else {
    std::error_code ec;
    fs::rename(copy, target, ec);
    if (ec) {
      journal.drop(w.path);
      throw Error(file.string(), "could not be replaced by its tagged copy (" + ec.message() + "): left as it is");
    }
    guard.keep = true;
    io::fsync_folder(target.parent_path());
  }
  failpoint("replaced", file.string());
  try {
    journal.finish(w);
  } catch (const Error& e) {
    throw Error(file.string(), "was written, but the journal could not record it (" + e.reason() +
                                   "); the next run with this journal records it");
  }
  failpoint("committed", file.string());
  remove_quietly(copy);
}

std::optional<std::string> resolve_pending(TagJournal& journal, const std::string& path) {
  const std::optional<PendingWrite> p = journal.pending(path);
  if (!p) {
    // A copy of this journal's beside the file without a pending write is a leftover of a kill before the
    // write was recorded as pending, or after it was recorded as done: never the only whole copy.
    remove_quietly(working_copy(path, journal.id()));
    return std::nullopt;
  }
  const fs::path copy = p->copy;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (p->phase == "copy back" && fs::is_regular_file(copy, ec))
      throw Error(path, "vanished while genrenet rewrote it in place; its tagged copy is at " + copy.string());
    journal.drop(path);
    remove_quietly(copy);
    return "an interrupted write was dropped: the file is gone";
  }
  const std::string now = sha256_file(path);
  if (now == p->sha256_after) {
    journal.finish(*p);
    remove_quietly(copy);
    return "an interrupted write had reached the file: recorded";
  }
  if (now == p->sha256_before) {
    journal.drop(path);
    remove_quietly(copy);
    return "an interrupted write had not reached the file: dropped";
  }
  if (p->phase == "copy back") {
    bool whole = false;
    try {
      whole = fs::is_regular_file(copy, ec) && sha256_file(copy) == p->sha256_after;
    } catch (const Error&) {
    }
    if (!whole)
      throw Error(path, "was left half-rewritten by an interrupted write, and its tagged copy " + copy.string() +
                            " is missing or damaged: restore the file from a backup");
    copy_back(copy, resolved(path), path);
    journal.finish(*p);
    remove_quietly(copy);
    return "a write that was cut short half-way was finished from its tagged copy";
  }
  // The rename never happened and the file has changed since: someone else's edit, which wins.
  journal.drop(path);
  remove_quietly(copy);
  return "changed by someone else after an interrupted write: that write was discarded";
}

FolderLocks::~FolderLocks() {
  for (const auto& [folder, fd] : held_) ::close(fd);
}

void FolderLocks::lock_folder_of(const fs::path& file) {
  const fs::path folder = resolved(file).parent_path();
  if (held_.count(folder)) return;
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == EMFILE && !held_.empty()) {  // a library of very many folders: let the finished ones go
    for (const auto& [f, held] : held_) ::close(held);
    held_.clear();
    fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd < 0) throw Error(folder.string(), "cannot be opened to lock it: " + std::string(std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw Error(folder.string(),
                "another genrenet tag (or --undo) is writing in this folder: its files are left as they are; run again "
                "when that one has finished",
                ErrorKind::Busy);
  }
  held_.emplace(folder, fd);
}

}  // namespace genrenet::tags
