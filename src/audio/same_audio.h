// Whether two audio files hold the same audio: the check behind every tag genrenet writes (a tag write
// must never change a sample).
#pragma once

#include <filesystem>
#include <string>

namespace genrenet {

// "" when `a` and `b` decode (libsndfile, at their own rate and channels, as doubles) to exactly the same
// samples; otherwise what differs (the format, the length, the first differing frame) or why one of them
// could not be read. Streams both in blocks: memory stays small whatever the length.
std::string audio_difference(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace genrenet
