// Atomic file writes: write a temporary file beside the target, fsync it, rename it over the target and
// fsync the folder. A reader (or a run killed half-way) sees the old file or the new one, never half of one.
#pragma once

#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace genrenet::io {

// Calls `write(tmp)` to fill a temporary path beside `target`, then makes it `target` atomically.
// On any exception the temporary file is removed and the target is untouched.
void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path& tmp)>& write);

// Convenience for bytes already in memory. With `synced` false the file is still renamed into place whole
// (never seen half-written) but not flushed to disk one by one: for many files at once, followed by one
// sync_file_system() (a file per 0.5 MB .npy cost 3.5 ms of fsyncs here, more than computing it).
void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, bool synced = true);
// The same for bytes in several pieces, written one after the other (a header and the data behind it).
void write_file_atomically(const std::filesystem::path& target, std::span<const std::string_view> parts,
                           bool synced = true);

// Flushes a folder's entries (renames into it) to disk; best effort where the file system refuses.
void fsync_folder(const std::filesystem::path& dir);

// The process that was writing `name`, if it is one of the temporary files above
// ("<target>.tmp.<pid>.<n>"); 0 otherwise. For sweeping the leftovers of killed writes.
long temporary_file_owner(const std::string& name);

// Flushes the file system that holds `path` to disk (syncfs): one call after many unsynced writes.
void sync_file_system(const std::filesystem::path& path);

// A whole file's bytes (binary mode: text or not); an Error naming it if it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace genrenet::io
