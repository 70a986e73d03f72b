// Learning a library's own genres from its tags (train --from-tags): the names normalised, aliases, the rule
// for several genres, genres too small left out, album-disjoint splits, class balance, transfer with --init,
// and `tag --only-untagged` filling the rest. On a library made by tests/make_tagged_library.cpp from
// synthesised genres: FLAC, MP3 (ID3v2.3, numeric genres), Ogg and WAV (RIFF INFO), 30% without a genre tag.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>
#include <genrenet/train.h>

#include "test_util.h"

namespace genrenet {
namespace {

const std::string kExe = GENRENET_EXE;

// 10 synthetic genres x 20 clips of 1 s, as a tagged library (4 albums a genre), made once for the suite.
class TaggedLibraryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    write_synthetic_dataset(*dir_ / "data", 20, 1.0, 11, 16000);
    const auto r = test::run(std::string(GENRENET_MAKE_TAGGED_LIBRARY) + " " + (*dir_ / "data").string() + " " + library().string());
    ASSERT_EQ(r.status, 0) << r.output;
    ASSERT_NE(r.output.find("200 files"), std::string::npos) << r.output;
    ASSERT_NE(r.output.find("(60 without a genre tag)"), std::string::npos) << r.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path library() { return *dir_ / "library"; }
  // truth.csv: absolute path -> (genre, has a genre tag)
  static std::map<std::string, std::pair<std::string, bool>> truth() {
    std::map<std::string, std::pair<std::string, bool>> t;
    std::ifstream in(library() / "truth.csv");
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      const size_t q = line.find('"', 1), c = line.rfind(',');
      const std::string file = (library() / line.substr(1, q - 1)).lexically_normal().string();
      t[file] = {line.substr(q + 2, c - q - 2), line.substr(c + 1) == "1"};
    }
    return t;
  }
  static GenreTagOptions options() {
    GenreTagOptions o;
    o.libraries = {library().string()};
    o.genre_map = (library() / "genres.toml").string();
    o.min_per_genre = 5;
    return o;
  }
  static test::TempDir* dir_;
};
test::TempDir* TaggedLibraryTest::dir_ = nullptr;

TEST(GenreNames, NormalisedAsTaggersSpellThem) {
  EXPECT_EQ(normalise_genre("Hip-Hop"), "hiphop");
  EXPECT_EQ(normalise_genre(" hip hop "), "hiphop");
  EXPECT_EQ(normalise_genre("HipHop"), "hiphop");
  EXPECT_EQ(normalise_genre("(7)"), "hiphop");  // ID3v1's numbers, as ID3v2.3 writes them
  EXPECT_EQ(normalise_genre("7"), "hiphop");
  EXPECT_EQ(normalise_genre("(17)"), "rock");
  EXPECT_EQ(normalise_genre("(17)Rock & Roll"), "rock&roll");  // the text, where given, wins over the number
  EXPECT_EQ(normalise_genre("Rock'n'Roll"), "rocknroll");
  EXPECT_EQ(normalise_genre("R&B"), "r&b");
  EXPECT_EQ(normalise_genre("   "), "");
  EXPECT_EQ(normalise_genre("(999)"), "(999)");  // not an ID3v1 number: kept as a name
}

TEST_F(TaggedLibraryTest, EveryTaggedFileGetsItsTrueGenre) {
  const TaggedLibrary t = scan_tagged_library(options());
  EXPECT_EQ(t.data.classes, synthetic_genres());
  EXPECT_EQ(t.untagged.size(), 60u);
  EXPECT_EQ(t.data.clips.size(), 140u);
  EXPECT_GT(t.several, 0);  // "Blues; Rock", "Jazz; Blues", "Pop; Rock": the first counts
  const auto known = truth();
  std::set<std::string> formats;
  for (const Clip& c : t.data.clips) {
    ASSERT_TRUE(known.count(c.id)) << c.id;
    EXPECT_EQ(t.data.classes[c.label], known.at(c.id).first) << c.id;
    EXPECT_TRUE(known.at(c.id).second) << c.id;
    EXPECT_FALSE(c.album.empty()) << c.id;
    formats.insert(c.path.extension().string());
  }
  EXPECT_EQ(formats, (std::set<std::string>{".flac", ".mp3", ".ogg", ".wav"}));
  for (const auto& f : t.untagged) EXPECT_FALSE(known.at(std::filesystem::absolute(f).lexically_normal().string()).second) << f;
  // The second genres ("Alternative", "Folk", "Funk") have under 5 files: left out and listed.
  std::set<std::string> left;
  for (auto& [genre, n] : t.left_out) {
    left.insert(genre);
    EXPECT_LT(n, 5) << genre;
  }
  EXPECT_EQ(left, (std::set<std::string>{"alternative", "folk", "funk"}));
  const auto j = nlohmann::json::parse(t.to_json());
  EXPECT_EQ(j["untagged"], 60);
  EXPECT_EQ(j["genres"]["hiphop"].get<int>() + j["genres"]["rock"].get<int>() > 0, true);
}

TEST_F(TaggedLibraryTest, WithoutTheMapAliasesAreGenresOfTheirOwnAndTheSkipRuleDropsFilesOfSeveral) {
  GenreTagOptions o = options();
  o.genre_map.clear();
  o.min_per_genre = 1;
  TaggedLibrary t = scan_tagged_library(o);
  for (const char* own : {"rap", "heavymetal", "classicalmusic", "rootsreggae"})
    EXPECT_NE(std::find(t.data.classes.begin(), t.data.classes.end(), own), t.data.classes.end()) << own;
  // A genre that only ever comes second has no file under "first": left out even at one file a genre.
  EXPECT_EQ(std::find(t.data.classes.begin(), t.data.classes.end(), "alternative"), t.data.classes.end());
  o.several = "skip";
  const TaggedLibrary skipped = scan_tagged_library(o);
  EXPECT_EQ(skipped.data.clips.size() + skipped.several, t.data.clips.size());
}

TEST_F(TaggedLibraryTest, AlbumSplitKeepsEachAlbumOnOneSide) {
  const TaggedLibrary t = scan_tagged_library(options());
  const Split s = make_split(t.data, "album", 3);
  std::map<std::string, std::string> album_of, side_of_album;
  for (const Clip& c : t.data.clips) album_of[c.id] = c.album;
  for (auto [name, ids] : {std::pair{"train", &s.train}, {"valid", &s.valid}, {"test", &s.test}}) {
    EXPECT_FALSE(ids->empty()) << name;
    for (auto& id : *ids) {
      auto [it, fresh] = side_of_album.emplace(album_of.at(id), name);
      EXPECT_EQ(it->second, name) << album_of.at(id) << " is in " << it->second << " and " << name;
    }
  }
  EXPECT_EQ(s.train.size() + s.valid.size() + s.test.size(), t.data.clips.size());
  EXPECT_EQ(make_split(t.data, "album", 3).to_json(), s.to_json());  // deterministic
  // The artist split is the same here (an artist per album); a folder dataset (no tags) still splits.
  EXPECT_NO_THROW(make_split(t.data, "artist", 3));
}

TEST_F(TaggedLibraryTest, ABadGenreMapOrTooFewGenresIsAClearError) {
  test::TempDir dir;
  test::write_bytes(dir / "map.toml", "hiphop = [\"Rap\"]\nrock = [\"rap\"]\n");
  GenreTagOptions o = options();
  o.genre_map = (dir / "map.toml").string();
  try {
    scan_tagged_library(o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("map.toml: \"rap\" is given for two genres: hiphop and rock"), std::string::npos) << e.what();
  }
  test::write_bytes(dir / "map.toml", "hiphop = 7\n");
  EXPECT_THROW(scan_tagged_library(o), Error);
  o = options();
  o.min_per_genre = 1000;
  try {
    scan_tagged_library(o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0 genre(s) with at least 1000 tagged files"), std::string::npos) << e.what();
  }
  o.libraries = {(dir / "nowhere").string()};
  EXPECT_THROW(scan_tagged_library(o), Error);
}

// The whole flow from the command line: train on the tags, evaluate, fill the untagged files, transfer.
TEST_F(TaggedLibraryTest, TrainFromTagsThenFillTheUntaggedFiles) {
  test::TempDir dir;
  const std::string lib = library().string(), run = (dir / "run").string(), cache = (dir / "cache").string();
  const std::string small = " --n-mels 64 --frames 64 --batch 16 --precision fp32 --cache " + cache;
  auto r = test::run(kExe + " train --from-tags " + lib + " --genre-map " + lib + "/genres.toml --min-per-genre 5 --epochs 2" +
                     small + " --lr 1e-3 --out " + run);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("genre tags: 140 files with a learnt genre in 10 genres, 60 without a genre tag"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("left out: alternative"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("class balance: loss weights"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("test: "), std::string::npos) << r.output;
  const auto split = nlohmann::json::parse(test::read_bytes(dir / "run" / "split.json"));
  EXPECT_EQ(split["spec"], "album");
  const auto dataset = nlohmann::json::parse(test::read_bytes(dir / "run" / "dataset.json"));
  EXPECT_EQ(dataset["untagged"], 60);
  const auto config = nlohmann::json::parse(test::read_bytes(dir / "run" / "config.json"));
  EXPECT_EQ(config["tags"]["libraries"][0], std::filesystem::absolute(lib).lexically_normal().string());
  r = test::run(kExe + " evaluate --run " + run + " --json");
  ASSERT_EQ(r.status, 0) << r.output;

  // Only the 60 files without a genre are decided; the others keep theirs and are not classified.
  r = test::run(kExe + " tag " + lib + " --model " + run + "/best.safetensors --only-untagged --report jsonl");
  ASSERT_EQ(r.status, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  int kept = 0, decided = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    const auto j = nlohmann::json::parse(line);
    if (j["message"].get<std::string>().find("--only-untagged keeps it") != std::string::npos) {
      ++kept;
      EXPECT_EQ(j["status"], "left alone");
      EXPECT_FALSE(j["old"].get<std::string>().empty());
    } else {
      ++decided;
      EXPECT_TRUE(j["old"].get<std::string>().empty()) << line;
      EXPECT_TRUE(j["status"] == "would write" || j["status"] == "left alone") << line;
    }
  }
  EXPECT_EQ(kept, 140);
  EXPECT_EQ(decided, 60);

  // Transfer: a new head on the trained network, its features taken with it.
  r = test::run(kExe + " train --from-tags " + lib + " --genre-map " + lib + "/genres.toml --min-per-genre 5 --epochs 1" +
                " --batch 16 --precision fp32 --cache " + cache + " --init " + run + "/best.safetensors --balance sampling --out " +
                (dir / "transfer").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("a new head for 10 classes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("class balance: balanced sampling"), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(test::read_bytes(dir / "transfer" / "config.json"))["features"]["n_mels"], 64);
  r = test::run(kExe + " train --from-tags " + lib + " --data " + lib + " --out " + (dir / "both").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not both"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace genrenet
