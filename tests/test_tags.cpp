// Genre tags written into files (genrenet/library.h tag_files, undo_tags; `genrenet tag`): every format
// written, read back with TagLib itself and decoded before and after to the same samples; the dry run, the
// journal (rerun, resume, undo), files left alone, and the files that must be error rows, not aborts.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/library.h>

#include "small_model.h"
#include "tag_test_files.h"
#include "test_util.h"

namespace genrenet {
namespace {

using test::genres_by_format;
using test::kFormats;
using test::make_tagged_file;
using test::samples_of;
using test::title_of;

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
    const TagReport r = tag_files(c, files, o, [&](const TagOutcome& x) { out.push_back(x); });
    if (report) *report = r;
    return out;
  }
  test::TempDir dir_;
  std::filesystem::path model_, music_;
};

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
  const TagReport first = tag_files(c, files, o, [&](const TagOutcome&) {
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

}

// Sets GENRENET_FAILPOINT for one scope (common/failpoint.h).
struct Failpoint {
  explicit Failpoint(const std::string& spec) { ::setenv("GENRENET_FAILPOINT", spec.c_str(), 1); }
  ~Failpoint() { ::unsetenv("GENRENET_FAILPOINT"); }
};

std::vector<std::filesystem::path> working_copies_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find("genrenet-tag") != std::string::npos) out.push_back(e.path());
  return out;
}

TEST_F(Tags, AHardLinkedFileCutShortByAFullDiskIsFinishedFromItsCopyAndNeverReclassified) {
  // The case 1: the in-place copy of a hard-linked file fails half-way (a full disk); the next run
  // on a still-full disk must neither reclassify the cut file nor touch its copy, and a later run finishes it.
  const auto f = make_tagged_file(music_, "a", kFormats[4]);  // MP3
  const auto hard = dir_.path() / "hard.mp3";
  std::filesystem::create_hard_link(f, hard);
  const std::vector<double> samples = samples_of(f);
  const std::string original = test::read_bytes(f);
  const Classifier c = classifier();
  TagOptions o = writing(std::string(40000, 'x') + " {genre}");  // a 40 KB value, as in the report
  {
    Failpoint full("copy-back:enospc");
    const auto out = tag(c, {f}, o);
    ASSERT_EQ(out.at(0).status, "error");
    EXPECT_NE(out[0].message.find("half-rewritten"), std::string::npos) << out[0].message;
    const auto copies = working_copies_in(music_);
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_NE(out[0].message.find(copies[0].string()), std::string::npos) << out[0].message;
    const std::string half = test::read_bytes(f);
    EXPECT_NE(half, original);
    // Still full: the file is reported with its copy, not classified again, not recorded as anything else.
    const auto again = tag(c, {f}, o);
    ASSERT_EQ(again.at(0).status, "error");
    EXPECT_NE(again[0].message.find(copies[0].string()), std::string::npos) << again[0].message;
    EXPECT_EQ(test::read_bytes(f), half);
    EXPECT_EQ(working_copies_in(music_), copies);
    // Undo on a full disk says the same (and names the copy).
    std::vector<TagOutcome> undone;
    undo_tags(o.journal, [&](const TagOutcome& x) { undone.push_back(x); });
    ASSERT_EQ(undone.size(), 1u);
    EXPECT_NE(undone[0].message.find(copies[0].string()), std::string::npos) << undone[0].message;
  }
  // Space again: the write is finished first, and the file counts as done.
  const auto done = tag(c, {f}, o);
  ASSERT_EQ(done.at(0).status, "done before") << done[0].message;
  EXPECT_TRUE(working_copies_in(music_).empty());
  EXPECT_EQ(test::read_bytes(f), test::read_bytes(hard));
  EXPECT_EQ(samples_of(f), samples);
  EXPECT_EQ(title_of(f), "A title that must survive");
  EXPECT_EQ(undo_tags(o.journal).restored, 1);
  EXPECT_EQ(read_tag(hard, TagField::genre), "Chanson");
  EXPECT_EQ(samples_of(hard), samples);
}

// A small tmpfs of this test's own (mounting needs root: skipped elsewhere), unmounted at the end.
class SmallDisk {
 public:
  SmallDisk(const std::filesystem::path& at, size_t bytes) : at_(at) {
    std::filesystem::create_directories(at);
    mounted_ = test::run("mount -t tmpfs -o size=" + std::to_string(bytes) + " genrenet-test " + at.string()).status == 0;
  }
  ~SmallDisk() {
    if (mounted_) test::run("umount " + at_.string());
  }
  bool mounted() const { return mounted_; }
  // Fills the disk until `left` bytes are free (tmpfs counts whole 4 KiB pages).
  void leave_free(size_t left) const {
    std::error_code ec;
    std::filesystem::remove(at_ / "filler", ec);
    const auto free_now = std::filesystem::space(at_).available;
    if (free_now > left) test::write_bytes(at_ / "filler", std::string(free_now - left, '\0'));
  }

 private:
  std::filesystem::path at_;
  bool mounted_ = false;
};

TEST_F(Tags, OnAReallyFullDiskEveryFileIsWrittenWholeOrLeftAsItWas) {
  SmallDisk disk(dir_.path() / "disk", 2 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  const auto lib = dir_.path() / "disk" / "music";
  std::filesystem::create_directories(lib);
  const Classifier c = classifier();
  // An MP3 with only an ID3v1 tag (genrenet adds an ID3v2 tag: the file grows), and a FLAC: each as one
  // name and hard-linked, on a disk with from its own size to twice its size and more free.
  for (const int format : {4, 2}) {
    for (const bool linked : {false, true}) {
      SCOPED_TRACE(std::string(kFormats[format].name) + (linked ? " hard-linked" : ""));
      const auto f = make_tagged_file(lib, "song", kFormats[format]);
      if (format == 4) {
        TagLib::MPEG::File mp3(f.c_str());
        mp3.strip(TagLib::MPEG::File::ID3v2 | TagLib::MPEG::File::APE);
        mp3.ID3v1Tag(true)->setTitle("A title that must survive");
        mp3.save(TagLib::MPEG::File::ID3v1, TagLib::File::StripOthers);
      }
      if (linked) std::filesystem::create_hard_link(f, lib / "other-name");
      const std::string original = test::read_bytes(f);
      const std::vector<double> samples = samples_of(f);
      const size_t size = original.size();
      int written = 0, refused = 0;
      for (size_t free_bytes = size; free_bytes < 2 * size + (64 << 10); free_bytes += 8 << 10) {
        disk.leave_free(size_t{1} << 40);  // (room again: the file as it was, then the disk filled up to the step)
        test::write_bytes(f, original);
        disk.leave_free(free_bytes);
        TagOptions o = writing();
        std::filesystem::remove(o.journal);
        const auto out = tag(c, {f}, o);
        if (out.at(0).status == "written") {
          ++written;
          EXPECT_EQ(samples_of(f), samples);
          EXPECT_EQ(read_tag(f, TagField::genre), out[0].new_value);
          if (linked) EXPECT_EQ(test::read_bytes(lib / "other-name"), test::read_bytes(f));
          disk.leave_free(size_t{1} << 40);
          EXPECT_EQ(undo_tags(o.journal).restored, 1);
          EXPECT_EQ(samples_of(f), samples);
        } else {
          ++refused;
          ASSERT_EQ(out[0].status, "error");
          EXPECT_TRUE(out[0].message.find("space") != std::string::npos || out[0].message.find("disk is full") != std::string::npos)
              << out[0].message;
          EXPECT_NE(out[0].message.find("left as it is"), std::string::npos) << out[0].message;
          EXPECT_EQ(test::read_bytes(f), original) << "free: " << free_bytes;
        }
        EXPECT_TRUE(working_copies_in(lib).empty()) << "free: " << free_bytes;
      }
      disk.leave_free(size_t{1} << 40);
      EXPECT_GT(written, 0);
      EXPECT_GT(refused, 0);
      std::filesystem::remove(f);
      std::filesystem::remove(lib / "other-name");
    }
  }
}

TEST_F(Tags, ARerunUnderAnotherRuleKeepsTheValuesUndoRestores) {
  // The case 2: after a write, reruns that decide "unchanged" or "left alone" (another window, a
  // confidence bar) must not replace what undo restores.
  const auto flac = make_tagged_file(music_, "multi", kFormats[2]);
  {
    TagLib::FLAC::File f(flac.c_str());
    f.xiphComment()->removeFields("GENRE");
    for (const char* g : {"Rock", "Pop", "Ünïcødé ジャンル"}) f.xiphComment()->addField("GENRE", TagLib::String(g, TagLib::String::UTF8), false);
    f.save();
  }
  const auto mp3 = make_tagged_file(music_, "slash", kFormats[4], "Rock/Indie");
  const std::vector<std::filesystem::path> files{flac, mp3};
  ASSERT_EQ(tag(classifier(), files, writing()).at(0).status, "written");
  TagOptions other_window = writing();
  other_window.windows.window_seconds = 5;
  for (const auto& o : tag(classifier(), files, other_window)) EXPECT_TRUE(o.status == "unchanged" || o.status == "written") << o.status;
  for (const auto& o : tag(classifier(0.999), files, writing())) EXPECT_EQ(o.status, "left alone");
  for (const auto& o : tag(classifier(0.999), files, writing())) EXPECT_EQ(o.status, "done before");
  const TagReport u = undo_tags(dir_.path() / "journal.sqlite");
  EXPECT_EQ(u.restored, 2);
  EXPECT_EQ(read_tag(flac, TagField::genre), "Rock; Pop; Ünïcødé ジャンル");
  EXPECT_EQ(read_tag(mp3, TagField::genre), "Rock/Indie");
}

TEST_F(Tags, AStaleTaggedCopyNeverOverwritesLaterEdits) {
  // The case 3: a kill after the journal's commit, before the rename; someone edits the file; the
  // next run must keep the edits (and decide from the edited file).
  const auto f = make_tagged_file(music_, "a", kFormats[4]);
  const auto journal = dir_.path() / "j.sqlite";
  const std::string cmd = std::string(GENRENET_EXE) + " tag --model " + model_.string() + " --precision fp32 --threads 1 --write --journal " +
                          journal.string() + " " + f.string();
  const auto killed = test::run("GENRENET_FAILPOINT=pending:kill " + cmd);
  EXPECT_NE(killed.status, 0) << killed.output;
  ASSERT_EQ(working_copies_in(music_).size(), 1u);
  {
    TagLib::FileRef ref(f.c_str());
    ref.tag()->setTitle("My new title");
    ref.tag()->setGenre("My genre");
    ASSERT_TRUE(ref.save());
  }
  const auto again = test::run(cmd);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("\"My genre\" -> "), std::string::npos) << again.output;
  EXPECT_EQ(title_of(f), "My new title");
  EXPECT_TRUE(working_copies_in(music_).empty());
  ASSERT_EQ(undo_tags(journal).restored, 1);
  EXPECT_EQ(read_tag(f, TagField::genre), "My genre");
  EXPECT_EQ(title_of(f), "My new title");
}

// An ID3v2.3 tag (the most common ID3 version) with frames that v2.4 dropped, made byte by byte.
std::string id3v23_frame(const std::string& id, const std::string& payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  std::string h = id;
  for (int shift : {24, 16, 8, 0}) h += static_cast<char>((n >> shift) & 0xff);  // v2.3: plain 32-bit sizes
  return h + std::string(2, '\0') + payload;
}

TEST_F(Tags, AnId3v23TagKeepsItsVersionAndEveryFrame) {
  // The case 4: TagLib upgraded v2.3 tags to v2.4 and dropped RVAD, TSIZ and TRDA.
  const auto plain = make_tagged_file(music_, "plain", kFormats[4]);
  {
    TagLib::MPEG::File mp3(plain.c_str());
    mp3.strip();
  }
  const std::string audio = test::read_bytes(plain);
  const std::vector<std::string> kept = {
      id3v23_frame("TIT2", std::string(1, '\0') + "A title that must survive"),
      id3v23_frame("TYER", std::string(1, '\0') + "1997"),
      id3v23_frame("TDAT", std::string(1, '\0') + "0304"),
      id3v23_frame("TRDA", std::string(1, '\0') + "March 3rd-4th, 1997"),
      id3v23_frame("TSIZ", std::string(1, '\0') + "123456"),
      id3v23_frame("RVAD", std::string("\x03\x10\x12\x34\x56\x78\x00\x00\x00\x00", 10)),
  };
  std::string frames;
  for (const auto& k : kept) frames += k;
  frames += id3v23_frame("TCON", std::string(1, '\0') + "(17)Rock");
  frames += std::string(512, '\0');  // padding
  std::string header("ID3\x03\x00\x00", 6);
  const auto size = static_cast<uint32_t>(frames.size());
  for (int shift : {21, 14, 7, 0}) header += static_cast<char>((size >> shift) & 0x7f);  // the tag's size is synchsafe
  const auto f = music_ / "v23.mp3";
  test::write_bytes(f, header + frames + audio);
  std::filesystem::remove(plain);
  const std::vector<double> samples = samples_of(f);
  const auto out = tag(classifier(), {f}, writing());
  ASSERT_EQ(out.at(0).status, "written") << out[0].message;
  EXPECT_EQ(out[0].old_value, "Rock");
  auto check = [&](const std::string& stage) {
    SCOPED_TRACE(stage);
    const std::string bytes = test::read_bytes(f);
    EXPECT_EQ(bytes.substr(0, 4), std::string("ID3\x03")) << "the tag is no longer ID3v2.3";
    for (const auto& k : kept) EXPECT_NE(bytes.find(k), std::string::npos) << "lost: " << k.substr(0, 4);
    EXPECT_EQ(samples_of(f), samples);
  };
  check("written");
  EXPECT_NE(read_tag(f, TagField::genre), "Rock");
  EXPECT_EQ(undo_tags(dir_.path() / "journal.sqlite").restored, 1);
  check("undone");
  EXPECT_EQ(read_tag(f, TagField::genre), "Rock");
}

TEST_F(Tags, AFileNameNearTheLimitIsTagged) {
  // The case 5: a 244-byte name made the working copy's name pass 255 and aborted the whole run.
  const auto f = make_tagged_file(music_, std::string(240, 'n'), kFormats[0]);
  ASSERT_EQ(f.filename().string().size(), 244u);
  TagOptions dry = writing();
  dry.write = false;
  EXPECT_EQ(tag(classifier(), {f}, dry).at(0).status, "would write");
  const auto out = tag(classifier(), {f}, writing());
  ASSERT_EQ(out.at(0).status, "written") << out[0].message;
  EXPECT_TRUE(working_copies_in(music_).empty());
  EXPECT_EQ(tag(classifier(), {f}, dry).at(0).status, "done before");  // a dry run reading the journal
  EXPECT_EQ(undo_tags(dir_.path() / "journal.sqlite").restored, 1);
}

TEST_F(Tags, TwoRunsAtOnceInOneFolderAreKeptApart) {
  // The case 6: a second run (another journal) writing in the same folder is refused file by file.
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 3; ++i) files.push_back(make_tagged_file(music_, "f" + std::to_string(i), kFormats[2], "Chanson", i + 1));
  const std::string model = model_.string();
  auto cmd = [&](const std::string& journal, const std::string& format) {
    return std::string(GENRENET_EXE) + " tag --model " + model + " --precision fp32 --threads 1 --write --journal " +
           (dir_.path() / journal).string() + " --format '" + format + "' " + music_.string();
  };
  // The first run pauses 2 s at each file while it holds the folder; the second starts once the first has
  // made its first working copy.
  const auto both = test::run("(GENRENET_FAILPOINT=copy-made:pause " + cmd("a.sqlite", "{genre}") + " > " +
                              (dir_.path() / "a.log").string() + " 2>&1 & first=$!; for i in $(seq 600); do ls -a " + music_.string() +
                              " | grep -q genrenet-tag && break; sleep 0.05; done; " + cmd("b.sqlite", "{Genre}!") + "; wait $first)");
  EXPECT_NE(both.output.find("another genrenet tag"), std::string::npos) << both.output;
  EXPECT_NE(both.output.find("3 files: 0 written"), std::string::npos) << both.output;
  const std::string a_log = test::read_bytes(dir_.path() / "a.log");
  EXPECT_NE(a_log.find("3 files: 3 written"), std::string::npos) << a_log;
  // Either order of the undos restores every file.
  EXPECT_EQ(undo_tags(dir_.path() / "b.sqlite").restored, 0);
  EXPECT_EQ(undo_tags(dir_.path() / "a.sqlite").restored, 3);
  for (const auto& f : files) EXPECT_EQ(read_tag(f, TagField::genre), "Chanson") << f;
  EXPECT_TRUE(working_copies_in(music_).empty());
}

TEST_F(Tags, MessagesNameTheFileAndTheProblem) {
  // The case 10: a dangling link is reported, the dry run says a read-only file would be left
  // alone, and a full disk while the working copy is made says so.
  const auto f = make_tagged_file(music_, "a", kFormats[2]);
  const auto ro = make_tagged_file(music_, "ro", kFormats[2]);
  ::chmod(ro.c_str(), 0444);
  const auto dangling = music_ / "gone.flac";
  std::filesystem::create_symlink(music_ / "nowhere.flac", dangling);
  TagOptions dry = writing();
  dry.write = false;
  const auto listed = collect_audio_files({music_.string()});
  EXPECT_NE(std::find(listed.begin(), listed.end(), dangling), listed.end()) << "a dangling link skipped without a word";
  const auto out = tag(classifier(), {f, ro, dangling}, dry);
  EXPECT_EQ(out.at(0).status, "would write");
  EXPECT_EQ(out.at(1).status, "error");
  EXPECT_NE(out[1].message.find("read-only"), std::string::npos) << out[1].message;
  EXPECT_EQ(out.at(2).status, "error");
  EXPECT_NE(out[2].message.find("symbolic link to " + (music_ / "nowhere.flac").string() + ", which does not exist"), std::string::npos)
      << out[2].message;
  Failpoint full("copy:enospc");
  const auto w = tag(classifier(), {f}, writing());
  ASSERT_EQ(w.at(0).status, "error");
  EXPECT_NE(w[0].message.find("not enough free space"), std::string::npos) << w[0].message;
  EXPECT_NE(w[0].message.find("a.flac"), std::string::npos) << w[0].message;
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
