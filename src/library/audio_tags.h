// One field (genre or comment) of an audio file's tags, read and written with TagLib, in every tag of the
// file where players look for it; and the safe write that never changes a sample.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <genrenet/library.h>

namespace genrenet::tags {

// The field's values in each tag of a file that carries it, in the order players prefer them (the first is
// one shown when several hold it): "id3v2", "ape", "id3v1" (MP3); "xiph", "id3v2", "id3v1" (FLAC);
// "xiph" (Ogg); "riff-info", "id3v2" (WAV); "id3v2" (AIFF). A tag a write would create is listed with no
// values. Multi-valued fields (Vorbis comments, ID3v2.4 frames) keep every value, so a restore is exact.
struct FieldValues {
  std::vector<std::pair<std::string, std::vector<std::string>>> by_tag;
  std::string shown() const;                             // the first tag's values that has any, joined with "; "
  bool all_say(const std::string& value) const;          // every tag (ID3v1 aside: its genres are a fixed list) holds exactly `value`
  FieldValues with_value(const std::string& value) const;  // the same tags, each holding `value` ("": the field removed)
  std::string to_json() const;                           // {"id3v2": ["Rock"], ...}
  static FieldValues from_json(const std::string& json, const std::string& origin);
};

// Error naming the file when TagLib cannot open it or its format holds no tags genrenet writes.
FieldValues read_field(const std::filesystem::path& file, TagField field);

// Writes `values` into the file's tags in place (each tag listed gets its values; no values: the field is
// removed). Only for a private copy: see write_safely.
void write_field(const std::filesystem::path& file, TagField field, const FieldValues& values);

// Writes `values` into `file` without ever leaving it half-written or with different audio: a copy beside it
// is tagged, checked to decode to exactly the same samples and to read back `values`, and renamed over it
// (copied back into place when the file has other hard links, which a rename would cut off). Symbolic links
// are followed. `before_commit(sha256 of the new content)` runs before the file changes (the journal records
// the write first, so that a kill can never leave a written file the journal does not know). Error naming the
// file (read-only, vanished, a folder that refuses the copy, audio that would change); the file is then as it was.
void write_safely(const std::filesystem::path& file, TagField field, const FieldValues& values,
                  const std::function<void(const std::string& new_sha256)>& before_commit);

// The working copy write_safely makes beside `file` (symbolic links followed).
std::filesystem::path working_copy(const std::filesystem::path& file);

// Finishes a write_safely that a kill stopped while it copied a hard-linked file's new content into place:
// when the working copy is still there, holds `expected_sha256` (the content the journal says genrenet
// left) and the file does not, the copy is written into the file and removed. Returns whether it did.
// Anything else is left to the next write (a copy from before the journal's commit is simply overwritten).
bool finish_interrupted_write(const std::filesystem::path& file, const std::string& expected_sha256);

}  // namespace genrenet::tags
