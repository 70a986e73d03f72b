// Audio files with tags for the tests of `genrenet tag`: every format it writes, made with libsndfile and
// tagged with TagLib, and the ways to look at them afterwards (samples, title, the genre where players read it).
#pragma once

#include <sndfile.h>
#include <taglib/fileref.h>
#include <taglib/flacfile.h>
#include <taglib/id3v1tag.h>
#include <taglib/id3v2tag.h>
#include <taglib/infotag.h>
#include <taglib/mpegfile.h>
#include <taglib/tpropertymap.h>
#include <taglib/vorbisfile.h>
#include <taglib/wavfile.h>
#include <taglib/xiphcomment.h>

#include <filesystem>
#include <string>
#include <vector>

#include <genrenet/genrenet.h>

#include "test_util.h"

namespace genrenet::test {

struct TagFormat {
  const char* name;
  const char* extension;
  int sndfile_format;
};

// Stereo 44.1 kHz music-like audio in a format, with a title and a genre set by TagLib (the "before").
inline std::filesystem::path make_tagged_file(const std::filesystem::path& dir, const std::string& stem, const TagFormat& f,
                                       const std::string& genre = "Chanson", unsigned seed = 1) {
  const auto p = dir / (stem + "." + f.extension);
  const std::vector<float> mono = synthesize_example_clip(3.0, 44100, seed);
  std::vector<float> stereo(mono.size() * 2);
  for (size_t i = 0; i < mono.size(); ++i) stereo[2 * i] = mono[i], stereo[2 * i + 1] = 0.5f * mono[i];
  SF_INFO info{};
  info.samplerate = 44100;
  info.channels = 2;
  info.format = f.sndfile_format;
  SNDFILE* s = sf_open(p.c_str(), SFM_WRITE, &info);
  EXPECT_NE(s, nullptr) << f.name << ": " << sf_strerror(nullptr);
  sf_writef_float(s, stereo.data(), static_cast<sf_count_t>(mono.size()));
  sf_close(s);
  TagLib::FileRef ref(p.c_str());
  EXPECT_FALSE(ref.isNull()) << p;
  ref.tag()->setTitle("A title that must survive");
  ref.tag()->setGenre(genre);
  EXPECT_TRUE(ref.save()) << p;
  return p;
}

// Every sample as libsndfile decodes it (doubles: exact for every PCM width).
inline std::vector<double> samples_of(const std::filesystem::path& p) {
  SF_INFO info{};
  SNDFILE* s = sf_open(p.c_str(), SFM_READ, &info);
  if (!s) return {};
  std::vector<double> x(static_cast<size_t>(info.frames * info.channels));
  x.resize(static_cast<size_t>(sf_readf_double(s, x.data(), info.frames) * info.channels));
  sf_close(s);
  return x;
}

inline std::string title_of(const std::filesystem::path& p) {
  TagLib::FileRef ref(p.c_str());
  return ref.isNull() ? "" : ref.tag()->title().to8Bit(true);
}

// Where players read the field, by TagLib itself: the tag each format is written in.
inline std::vector<std::string> genres_by_format(const std::filesystem::path& p) {
  std::vector<std::string> out;
  const std::string ext = p.extension().string();
  if (ext == ".mp3") {
    TagLib::MPEG::File f(p.c_str());
    out.push_back(f.ID3v2Tag() ? f.ID3v2Tag()->genre().to8Bit(true) : "");
  } else if (ext == ".flac") {
    TagLib::FLAC::File f(p.c_str());
    out.push_back(f.xiphComment() ? f.xiphComment()->genre().to8Bit(true) : "");
  } else if (ext == ".ogg") {
    TagLib::Ogg::Vorbis::File f(p.c_str());
    out.push_back(f.tag()->genre().to8Bit(true));
  } else if (ext == ".wav") {
    TagLib::RIFF::WAV::File f(p.c_str());
    out.push_back(f.InfoTag()->genre().to8Bit(true));
    out.push_back(f.ID3v2Tag()->genre().to8Bit(true));
  } else {
    TagLib::FileRef f(p.c_str());
    out.push_back(f.tag()->genre().to8Bit(true));
  }
  return out;
}

inline const TagFormat kFormats[] = {{"wav16", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},
                              {"wav24", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24},
                              {"flac", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
                              {"ogg", "ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
                              {"mp3", "mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III},
                              {"aiff", "aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16}};

}  // namespace genrenet::test
