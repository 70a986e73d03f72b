// make_tagged_library SOURCE OUT [ALBUM_SIZE]: a music library as people have them, made from a dataset of
// class folders (GTZAN's layout, or `genrenet synth`), for the tests and the experiment of `genrenet train
// --from-tags` (docs/RESULTS.md). Each clip is copied (libsndfile) into FLAC, MP3, Ogg Vorbis or WAV in turn,
// ALBUM_SIZE (default 5) clips of a class to an album of its own artist, and tagged (TagLib) the way libraries are: the genre spelt as
// that album's tagger spelt it ("Hip-Hop", "hip hop", "(7)", "Rap"), some with two genres ("Rock;
// Alternative", two Vorbis GENRE fields), and about 30% with no genre tag at all (their album and artist
// still there). Writes OUT/genres.toml (the aliases a user would write for these spellings) and
// OUT/truth.csv (file, true genre, whether it has a genre tag). Deterministic: the same input, the same output.
#include <sndfile.h>
#include <taglib/fileref.h>
#include <taglib/flacfile.h>
#include <taglib/id3v2tag.h>
#include <taglib/infotag.h>
#include <taglib/mpegfile.h>
#include <taglib/textidentificationframe.h>
#include <taglib/vorbisfile.h>
#include <taglib/wavfile.h>
#include <taglib/xiphcomment.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <genrenet/data.h>

namespace {

struct Format {
  const char* extension;
  int sndfile_format;
};
const Format kFormats[] = {{"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
                           {"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III},
                           {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
                           {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16}};

// How taggers spell GTZAN's genres; an album takes one spelling. "A; B" is two genres.
const std::map<std::string, std::vector<std::string>> kSpellings = {
    {"blues", {"Blues", "(0)", "blues", "Blues; Rock"}},
    {"classical", {"Classical", "(32)", "Classical Music", "classical"}},
    {"country", {"Country", "(2)", "country", "Country; Folk"}},
    {"disco", {"Disco", "(4)", "DISCO", "Disco; Funk"}},
    {"hiphop", {"Hip-Hop", "hip hop", "(7)", "Rap"}},
    {"jazz", {"Jazz", "(8)", "jazz", "Jazz; Blues"}},
    {"metal", {"Metal", "(9)", "Heavy Metal", "metal"}},
    {"pop", {"Pop", "(13)", "pop", "Pop; Rock"}},
    {"reggae", {"Reggae", "(16)", "reggae", "Roots Reggae"}},
    {"rock", {"Rock", "(17)", "ROCK", "Rock; Alternative"}}};

// Splits "A; B" into its genres.
std::vector<std::string> genres_of(const std::string& spelling) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t semi; (semi = spelling.find("; ", start)) != std::string::npos; start = semi + 2)
    out.push_back(spelling.substr(start, semi - start));
  out.push_back(spelling.substr(start));
  return out;
}

bool copy_audio(const std::filesystem::path& from, const std::filesystem::path& to, int format) {
  SF_INFO in_info{};
  SNDFILE* in = sf_open(from.c_str(), SFM_READ, &in_info);
  if (!in) return false;
  std::vector<float> x(static_cast<size_t>(in_info.frames * in_info.channels));
  const sf_count_t frames = sf_readf_float(in, x.data(), in_info.frames);
  sf_close(in);
  SF_INFO out_info{};
  out_info.samplerate = in_info.samplerate;
  out_info.channels = in_info.channels;
  out_info.format = format;
  SNDFILE* out = sf_open(to.c_str(), SFM_WRITE, &out_info);
  if (!out) return false;
  sf_writef_float(out, x.data(), frames);
  sf_close(out);
  return true;
}

// Genre (values; none: untagged), artist and album in the tag each format's players read.
bool tag(const std::filesystem::path& p, const std::vector<std::string>& genres, const std::string& artist,
         const std::string& album) {
  const std::string ext = p.extension().string();
  auto s = [](const std::string& v) { return TagLib::String(v, TagLib::String::UTF8); };
  if (ext == ".mp3") {  // ID3v2.3, as most taggers still write; numeric genres as "(7)"
    TagLib::MPEG::File f(p.c_str());
    auto* t = f.ID3v2Tag(true);
    t->setArtist(s(artist));
    t->setAlbum(s(album));
    if (!genres.empty()) {
      auto* frame = new TagLib::ID3v2::TextIdentificationFrame("TCON", TagLib::String::UTF8);
      TagLib::StringList list;
      for (auto& g : genres) list.append(s(g));
      frame->setText(list);
      t->addFrame(frame);
    }
    return f.save(TagLib::MPEG::File::ID3v2, TagLib::File::StripOthers, TagLib::ID3v2::v3);
  }
  if (ext == ".wav") {  // RIFF INFO only: IGNR holds one string
    TagLib::RIFF::WAV::File f(p.c_str());
    auto* t = f.InfoTag();
    t->setArtist(s(artist));
    t->setAlbum(s(album));
    std::string joined;
    for (auto& g : genres) joined += (joined.empty() ? "" : "; ") + g;
    if (!joined.empty()) t->setGenre(s(joined));
    return f.save(TagLib::RIFF::WAV::File::Info);
  }
  TagLib::FileRef ref(p.c_str());
  if (ref.isNull()) return false;
  ref.tag()->setArtist(s(artist));
  ref.tag()->setAlbum(s(album));
  if (auto* x = dynamic_cast<TagLib::Ogg::XiphComment*>(ref.tag())) {  // Ogg: one GENRE field per genre
    for (auto& g : genres) x->addField("GENRE", s(g), false);
  } else if (auto* flac = dynamic_cast<TagLib::FLAC::File*>(ref.file())) {  // FLAC: one field, "A; B"
    std::string joined;
    for (auto& g : genres) joined += (joined.empty() ? "" : "; ") + g;
    if (!joined.empty()) flac->xiphComment(true)->addField("GENRE", s(joined));
  }
  return ref.save();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: make_tagged_library SOURCE_DATASET OUT [ALBUM_SIZE]\n");
    return 2;
  }
  const int album_size = argc == 4 ? std::max(1, std::atoi(argv[3])) : 5;
  try {
    const genrenet::Dataset data = genrenet::scan_dataset(argv[1]);
    const std::filesystem::path out = argv[2];
    std::filesystem::create_directories(out);
    std::ofstream truth(out / "truth.csv");
    truth << "file,genre,tagged\n";
    std::map<int, int> seen;  // clips per class so far
    int index = 0, untagged = 0;
    for (const genrenet::Clip& c : data.clips) {
      const std::string genre = data.classes[c.label];
      const int k = seen[c.label]++;
      const int album = k / album_size;
      const std::string artist = genre + " artist " + std::to_string(album + 1);
      const std::string album_title = "Album " + std::to_string(album + 1);
      const Format& f = kFormats[index % 4];
      const auto dir = out / artist / album_title;
      std::filesystem::create_directories(dir);
      const auto file = dir / (std::to_string(k % album_size + 1) + " " + c.path.stem().string() + "." + f.extension);
      // Three clips in ten have no genre tag (spread over the albums, as they are in libraries).
      const bool has_genre = (index * 7 + 3) % 10 >= 3;
      std::vector<std::string> genres;
      if (has_genre) {
        const auto spellings = kSpellings.count(genre) ? kSpellings.at(genre) : std::vector<std::string>{genre};
        genres = genres_of(spellings[album % spellings.size()]);
      }
      if (!copy_audio(c.path, file, f.sndfile_format) || !tag(file, genres, artist, album_title)) {
        std::fprintf(stderr, "%s: could not copy or tag into %s\n", c.path.c_str(), file.c_str());
        return 1;
      }
      untagged += !has_genre;
      truth << '"' << std::filesystem::relative(file, out).string() << "\"," << genre << ',' << (has_genre ? 1 : 0) << '\n';
      ++index;
    }
    std::ofstream(out / "genres.toml") << "# The aliases a user writes for the spellings of this library.\n"
                                          "classical = [\"Classical Music\"]\n"
                                          "hiphop = [\"Rap\"]\n"
                                          "metal = [\"Heavy Metal\"]\n"
                                          "reggae = [\"Roots Reggae\"]\n";
    std::printf("%d files in %s (%d without a genre tag); truth.csv and genres.toml beside them\n", index, out.c_str(),
                untagged);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
