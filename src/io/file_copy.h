// Whole-file copies for code that rewrites users' files: space is reserved before the first byte moves,
// so that a full disk is reported up front (by its name) instead of leaving a file cut short.
#pragma once

#include <filesystem>
#include <string>

namespace genrenet::io {

// Copies `from` into a new file `to` (replacing one that is there) and flushes it. The whole size is
// allocated first: Error naming `to` and "not enough free space" when the disk cannot hold it, with `to`
// removed. `failpoint_name` lets the tests make this copy fail as a full disk would (common/failpoint.h).
void copy_file_reserved(const std::filesystem::path& from, const std::filesystem::path& to, const char* failpoint_name);

// Writes the content of `from` into the existing file `to` in place (the same inode: its other hard links
// see the new content), flushed. Space for any growth is reserved first, so a full disk fails before a byte
// of `to` changes (Error "not enough free space", `to` untouched). Any failure after that (an I/O error, a
// kill) leaves `to` partly rewritten: callers keep `from` until this returns. The failpoint named
// `failpoint_name` fires half-way through the bytes.
void rewrite_in_place(const std::filesystem::path& from, const std::filesystem::path& to, const char* failpoint_name);

// "is a symbolic link to X, which does not exist" when `path` is a dangling link, else "": the message of
// every reader that meets one (a broken link is easy to miss: `ls` lists it like a file).
std::string dangling_link(const std::filesystem::path& path);

// "No space left on device" and its kin, with what was being written: for messages.
std::string describe_write_error(int err, const std::string& what);

}  // namespace genrenet::io
