// Genre tags written into files (genrenet/library.h tag_files, undo_tags; `genrenet tag`): every format
// written, read back with TagLib itself and decoded before and after to the same samples; the dry run, the
// journal (rerun, resume, undo), files left alone, and the files that must be error rows, not aborts.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <sndfile.h>
#include <taglib/fileref.h>
#include <taglib/flacfile.h>
#include <taglib/id3v2tag.h>
#include <taglib/infotag.h>
#include <taglib/mpegfile.h>
#include <taglib/tpropertymap.h>
#include <taglib/vorbisfile.h>
#include <taglib/wavfile.h>
#include <taglib/xiphcomment.h>

#include <genrenet/classifier.h>
#include <genrenet/library.h>

#include "small_model.h"
#include "test_util.h"

namespace genrenet {
namespace {

struct TagFormat {
  const char* name;
  const char* extension;
  int sndfile_format;
};

// Stereo 44.1 kHz music-like audio in a format, with a title and a genre set by TagLib (the "before").
std::filesystem::path make_tagged_file(const std::filesystem::path& dir, const std::string& stem, const TagFormat& f,
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
std::vector<double> samples_of(const std::filesystem::path& p) {
  SF_INFO info{};
  SNDFILE* s = sf_open(p.c_str(), SFM_READ, &info);
  if (!s) return {};
  std::vector<double> x(static_cast<size_t>(info.frames * info.channels));
  x.resize(static_cast<size_t>(sf_readf_double(s, x.data(), info.frames) * info.channels));
  sf_close(s);
  return x;
}

std::string title_of(const std::filesystem::path& p) {
  TagLib::FileRef ref(p.c_str());
  return ref.isNull() ? "" : ref.tag()->title().to8Bit(true);
}

// Where players read the field, by TagLib itself: the tag each format is written in.
std::vector<std::string> genres_by_format(const std::filesystem::path& p) {
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

class Tags : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = test::make_small_model_file(dir_.path());
    music_ = dir_.path() / "music";
    std::filesystem::create_directories(music_);
  }
  Classifier classifier(double min_confidence = 0) const {
    ClassifierOptions o;
    o.precision = "fp32";
    o.threads = 2;
    o.unknown.min_confidence = min_confidence;
    return Classifier(model_, o);
  }
  TagOptions writing(const std::string& format = "{Genre}") const {
    TagOptions o;
    o.write = true;
    o.format = format;
    o.journal = dir_.path() / "journal.sqlite";
    return o;
  }
  std::vector<TagOutcome> tag(const Classifier& c, const std::vector<std::filesystem::path>& files, const TagOptions& o,
                              TagReport* report = nullptr) const {
    std::vector<TagOutcome> out;
    const TagReport r = tag_files(c, model_, files, o, [&](const TagOutcome& x) { out.push_back(x); });
    if (report) *report = r;
    return out;
  }
  test::TempDir dir_;
  std::filesystem::path model_, music_;
};

const TagFormat kFormats[] = {{"wav16", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},
                              {"wav24", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24},
                              {"flac", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
                              {"ogg", "ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS},
                              {"mp3", "mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III},
                              {"aiff", "aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16}};

TEST_F(Tags, EveryFormatWrittenWhereItsPlayersReadItWithTheSameSamplesAndUndone) {
  std::vector<std::filesystem::path> files;
  std::vector<std::vector<double>> before;
  std::vector<std::vector<std::string>> tags_before;
  for (const auto& f : kFormats) {
    files.push_back(make_tagged_file(music_, f.name, f));
    before.push_back(samples_of(files.back()));
    tags_before.push_back(genres_by_format(files.back()));
    ASSERT_FALSE(before.back().empty()) << f.name;
    EXPECT_EQ(read_tag(files.back(), TagField::genre), "Chanson") << f.name;
  }
  const Classifier c = classifier();
  TagReport report;
  const auto out = tag(c, files, writing("{Genre} (genrenet {confidence})"), &report);
  ASSERT_EQ(out.size(), files.size());
  EXPECT_EQ(report.written, static_cast<int>(files.size()));
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(kFormats[i].name);
    const TagOutcome& o = out[i];
    ASSERT_EQ(o.status, "written") << o.message;
    EXPECT_EQ(o.old_value, "Chanson");
    const Classification answer = c.classify_file(files[i]);
    EXPECT_EQ(o.genre, answer.genre);
    std::string expected = answer.genre;
    expected[0] = static_cast<char>(std::toupper(expected[0]));
    char p[16];
    std::snprintf(p, sizeof p, "%.2f", answer.ranked[0].probability);
    expected += std::string(" (genrenet ") + p + ")";
    EXPECT_EQ(o.new_value, expected);
    for (const auto& g : genres_by_format(files[i])) EXPECT_EQ(g, expected);
    EXPECT_EQ(read_tag(files[i], TagField::genre), expected);
    EXPECT_EQ(title_of(files[i]), "A title that must survive");
    EXPECT_EQ(samples_of(files[i]), before[i]) << "the audio changed";
  }
  // Undo: the old genre back in every tag, the audio still the same.
  std::vector<TagOutcome> undone;
  const TagReport u = undo_tags(dir_.path() / "journal.sqlite", [&](const TagOutcome& o) { undone.push_back(o); });
  EXPECT_EQ(u.restored, static_cast<int>(files.size()));
  EXPECT_EQ(u.errors, 0);
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(kFormats[i].name);
    EXPECT_EQ(read_tag(files[i], TagField::genre), "Chanson");
    EXPECT_EQ(genres_by_format(files[i]), tags_before[i]);  // each tag as it was (WAV: ID3v2 had it, INFO not)
    EXPECT_EQ(title_of(files[i]), "A title that must survive");
    EXPECT_EQ(samples_of(files[i]), before[i]);
  }
  // A second undo has nothing left to do.
  EXPECT_EQ(undo_tags(dir_.path() / "journal.sqlite").restored, 0);
}

TEST_F(Tags, CommentFieldAndAFileWithoutTheFieldRestoredToNone) {
  const auto f = make_tagged_file(music_, "a", kFormats[2]);
  EXPECT_EQ(read_tag(f, TagField::comment), "");
  TagOptions o = writing("genre: {genre}");
  o.field = TagField::comment;
  const auto out = tag(classifier(), {f}, o);
  ASSERT_EQ(out.at(0).status, "written") << out[0].message;
  EXPECT_EQ(read_tag(f, TagField::comment), "genre: " + out[0].genre);
  EXPECT_EQ(read_tag(f, TagField::genre), "Chanson");  // the genre field untouched
  // The journal is of the comment field: a genre run on it is refused.
  TagOptions g = writing();
  EXPECT_THROW(tag(classifier(), {f}, g), Error);
  undo_tags(o.journal);
  EXPECT_EQ(read_tag(f, TagField::comment), "");
  TagLib::FLAC::File flac(f.c_str());
  EXPECT_FALSE(flac.xiphComment()->contains("COMMENT"));
}

TEST_F(Tags, DryRunTouchesNothingAndWritesNoJournal) {
  const auto f = make_tagged_file(music_, "a", kFormats[4]);
  const std::string bytes = test::read_bytes(f);
  TagOptions o;
  o.journal = dir_.path() / "journal.sqlite";
  const auto out = tag(classifier(), {f}, o);
  ASSERT_EQ(out.at(0).status, "would write");
  EXPECT_EQ(out[0].old_value, "Chanson");
  EXPECT_EQ(out[0].new_value, out[0].genre);
  EXPECT_EQ(test::read_bytes(f), bytes);
  EXPECT_FALSE(std::filesystem::exists(o.journal));
}

TEST_F(Tags, RerunSkipsFinishedFilesAndRedoesAChangedOne) {
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 3; ++i) files.push_back(make_tagged_file(music_, "f" + std::to_string(i), kFormats[2], "Chanson", i + 1));
  const Classifier c = classifier();
  ASSERT_EQ(tag(c, files, writing()).at(0).status, "written");
  for (const auto& o : tag(c, files, writing())) EXPECT_EQ(o.status, "done before") << o.file;
  // A dry run reads the journal (finished files say so) without changing a byte of it.
  const std::string journal_bytes = test::read_bytes(dir_.path() / "journal.sqlite");
  TagOptions dry = writing();
  dry.write = false;
  for (const auto& o : tag(c, files, dry)) EXPECT_EQ(o.status, "done before") << o.file;
  EXPECT_EQ(test::read_bytes(dir_.path() / "journal.sqlite"), journal_bytes);
  // Someone else retags one file: its content changed, so it is decided again (and written again).
  {
    TagLib::FileRef ref(files[1].c_str());
    ref.tag()->setGenre("Polka");
    ref.save();
  }
  const auto again = tag(c, files, writing());
  EXPECT_EQ(again[0].status, "done before");
  EXPECT_EQ(again[1].status, "written");
  EXPECT_EQ(again[1].old_value, "Polka");
  // Another format is another rule: every file is decided and written again.
  const auto other = tag(c, files, writing("{genre}"));
  for (const auto& o : other) EXPECT_EQ(o.status, "written");
  // Undo goes back to what each file held before genrenet first wrote it, across reruns.
  undo_tags(dir_.path() / "journal.sqlite");
  EXPECT_EQ(read_tag(files[0], TagField::genre), "Chanson");
  EXPECT_EQ(read_tag(files[1], TagField::genre), "Polka");
  EXPECT_EQ(read_tag(files[2], TagField::genre), "Chanson");
}

TEST_F(Tags, InterruptedRunResumesWhereItStopped) {
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 4; ++i) files.push_back(make_tagged_file(music_, "f" + std::to_string(i), kFormats[0], "Chanson", i + 1));
  std::atomic<bool> stop{false};
  TagOptions o = writing();
  o.group = 1;  // outcomes are reported a group at a time
  o.stop = &stop;
  const Classifier c = classifier();
  int seen = 0;
  const TagReport first = tag_files(c, model_, files, o, [&](const TagOutcome&) {
    if (++seen == 1) stop = true;  // Ctrl-C after the first file
  });
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.written, 1);
  stop = false;
  TagReport second;
  const auto out = tag(c, files, o, &second);
  EXPECT_FALSE(second.interrupted);
  EXPECT_EQ(second.done_before, 1);
  EXPECT_EQ(second.written, 3);
  EXPECT_EQ(out[0].status, "done before");
}

TEST_F(Tags, UnsureAnswersAreLeftAloneAndListed) {
  const auto f = make_tagged_file(music_, "a", kFormats[3]);
  const std::string bytes = test::read_bytes(f);
  const auto out = tag(classifier(0.999), {f}, writing());
  ASSERT_EQ(out.at(0).status, "left alone");
  EXPECT_EQ(out[0].genre, "unknown");
  EXPECT_NE(out[0].message.find("below"), std::string::npos) << out[0].message;
  EXPECT_EQ(test::read_bytes(f), bytes);
}

TEST_F(Tags, ReadOnlyVanishedAndUntaggableFilesAreErrorRowsNotAborts) {
  const auto read_only = make_tagged_file(music_, "ro", kFormats[2]);
  ::chmod(read_only.c_str(), 0444);
  const std::string ro_bytes = test::read_bytes(read_only);
  const auto good = make_tagged_file(music_, "good", kFormats[2]);
  const auto au = music_ / "x.au";
  {
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 1;
    info.format = SF_FORMAT_AU | SF_FORMAT_PCM_16;
    SNDFILE* s = sf_open(au.c_str(), SFM_WRITE, &info);
    const auto x = synthesize_example_clip(2.0, 16000, 3);
    sf_writef_float(s, x.data(), static_cast<sf_count_t>(x.size()));
    sf_close(s);
  }
  const auto vanished = music_ / "gone.flac";
  TagReport r;
  const auto out = tag(classifier(), {read_only, vanished, au, good}, writing(), &r);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].status, "error");
  EXPECT_NE(out[0].message.find("read-only"), std::string::npos) << out[0].message;
  EXPECT_EQ(test::read_bytes(read_only), ro_bytes);
  EXPECT_EQ(out[1].status, "error");
  EXPECT_NE(out[1].message.find("gone.flac"), std::string::npos) << out[1].message;
  EXPECT_EQ(out[2].status, "error");
  EXPECT_NE(out[2].message.find("x.au"), std::string::npos) << out[2].message;
  EXPECT_EQ(out[3].status, "written") << out[3].message;
  EXPECT_EQ(r.errors, 3);
  EXPECT_EQ(r.written, 1);
  // No working copies left beside the files.
  for (const auto& e : std::filesystem::directory_iterator(music_))
    EXPECT_EQ(e.path().string().find(".genrenet-tag"), std::string::npos) << e.path();
}

TEST_F(Tags, HardLinksKeepSharingAndSymbolicLinksStayLinks) {
  const auto f = make_tagged_file(music_, "a", kFormats[2]);
  const auto hard = dir_.path() / "hard.flac";
  std::filesystem::create_hard_link(f, hard);
  const auto g = make_tagged_file(music_, "b", kFormats[4]);
  const auto sym = dir_.path() / "link.mp3";
  std::filesystem::create_symlink(g, sym);
  const auto out = tag(classifier(), {f, sym}, writing());
  ASSERT_EQ(out.at(0).status, "written") << out[0].message;
  ASSERT_EQ(out.at(1).status, "written") << out[1].message;
  EXPECT_EQ(read_tag(hard, TagField::genre), out[0].new_value);  // the same inode
  EXPECT_EQ(std::filesystem::hard_link_count(f), 2u);
  EXPECT_TRUE(std::filesystem::is_symlink(sym));
  EXPECT_EQ(read_tag(g, TagField::genre), out[1].new_value);

  // A kill while the new content was being copied into the hard-linked file: the file half-written, its
  // complete tagged copy still beside it. The next run finishes the copy first (then has nothing to do).
  const std::string tagged = test::read_bytes(f);
  const auto copy = music_ / ".a.flac.genrenet-tag.tmp";
  test::write_bytes(copy, tagged);
  std::filesystem::resize_file(f, tagged.size() / 2);  // the same inode, cut short
  EXPECT_EQ(test::read_bytes(hard).size(), tagged.size() / 2);
  const auto again = tag(classifier(), {f}, writing());
  ASSERT_EQ(again.at(0).status, "done before") << again[0].status << " " << again[0].message;
  EXPECT_EQ(test::read_bytes(f), tagged);
  EXPECT_EQ(test::read_bytes(hard), tagged);
  EXPECT_FALSE(std::filesystem::exists(copy));
}

TEST_F(Tags, UndoLeavesAFileChangedSinceAlone) {
  const auto f = make_tagged_file(music_, "a", kFormats[2]);
  const auto out = tag(classifier(), {f}, writing());
  ASSERT_EQ(out.at(0).status, "written");
  {
    TagLib::FileRef ref(f.c_str());
    ref.tag()->setGenre("Mine now");
    ref.save();
  }
  std::vector<TagOutcome> undone;
  const TagReport r = undo_tags(dir_.path() / "journal.sqlite", [&](const TagOutcome& o) { undone.push_back(o); });
  EXPECT_EQ(r.errors, 1);
  ASSERT_EQ(undone.size(), 1u);
  EXPECT_NE(undone[0].message.find("changed since"), std::string::npos) << undone[0].message;
  EXPECT_EQ(read_tag(f, TagField::genre), "Mine now");
}

TEST_F(Tags, BadOptionsAndBadJournalsRefusedByName) {
  const auto f = make_tagged_file(music_, "a", kFormats[2]);
  TagOptions o = writing("{genre} {mood}");
  EXPECT_THROW(tag(classifier(), {f}, o), Error);
  o = writing();
  o.journal.clear();
  EXPECT_THROW(tag(classifier(), {f}, o), Error);
  const auto not_a_journal = dir_.path() / "notes.sqlite";
  test::write_bytes(not_a_journal, "these are my notes, not a database\n");
  o = writing();
  o.journal = not_a_journal;
  try {
    tag(classifier(), {f}, o);
    ADD_FAILURE() << "a text file used as the journal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.sqlite"), std::string::npos) << e.what();
  }
  EXPECT_THROW(undo_tags(dir_.path() / "missing.sqlite"), Error);
  EXPECT_EQ(test::read_bytes(not_a_journal), "these are my notes, not a database\n");
}

TEST_F(Tags, CommandLineDryRunWriteAndUndo) {
  const auto f = make_tagged_file(music_, "a", kFormats[2]);
  const auto g = make_tagged_file(music_, "b", kFormats[4], "Rock", 2);
  const std::string exe = GENRENET_EXE;
  const std::string base = exe + " tag --model " + model_.string() + " --precision fp32 --threads 2 ";
  const auto journal = dir_.path() / "j.sqlite";
  auto dry = test::run(base + music_.string());
  ASSERT_EQ(dry.status, 0) << dry.output;
  EXPECT_NE(dry.output.find("would write"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("\"Chanson\" -> "), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("dry run: nothing was written"), std::string::npos) << dry.output;
  EXPECT_EQ(read_tag(f, TagField::genre), "Chanson");
  auto written = test::run(base + "--write --journal " + journal.string() + " --report jsonl " + music_.string());
  ASSERT_EQ(written.status, 0) << written.output;
  int rows = 0;
  std::istringstream lines(written.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') {
      const auto j = nlohmann::json::parse(line);
      EXPECT_EQ(j.at("status"), "written") << line;
      EXPECT_EQ(read_tag(j.at("file").get<std::string>(), TagField::genre), j.at("new").get<std::string>());
      ++rows;
    }
  EXPECT_EQ(rows, 2);
  EXPECT_NE(written.output.find("genrenet tag --undo " + journal.string()), std::string::npos) << written.output;
  auto undo = test::run(exe + " tag --undo " + journal.string());
  ASSERT_EQ(undo.status, 0) << undo.output;
  EXPECT_EQ(read_tag(f, TagField::genre), "Chanson");
  EXPECT_EQ(read_tag(g, TagField::genre), "Rock");
  auto bad = test::run(base + "--format '{nope}' " + music_.string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("{nope}"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace genrenet
