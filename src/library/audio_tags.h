// One field (genre or comment) of an audio file's tags, read and written with TagLib, in every tag of the
// file where players look for it. Files are written through tag_write.h, never directly.
#pragma once

#include <filesystem>
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

// What a file's tags say of it for learning genres: the genre field's values (every value of the first tag
// that has any, as written: "Hip-Hop", "(7)", "Rock; Alternative"), artist, album artist and album.
struct FileLabels {
  std::vector<std::string> genres;
  std::string artist, album_artist, album;
};
FileLabels read_labels(const std::filesystem::path& file);  // Error as read_field

// Writes `values` into the file's tags in place (each tag listed gets its values; no values: the field is
// removed). Only for a private copy: see tags::write_journalled. An ID3v2 tag keeps its version (2.3 or 2.4)
// and every other frame.
void write_field(const std::filesystem::path& file, TagField field, const FieldValues& values);

}  // namespace genrenet::tags
