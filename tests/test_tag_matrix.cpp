// The kill -9 and full-disk matrix over `genrenet tag --write` (issue 25): at every commit point of a write
// (common/failpoint.h names them; docs/RELIABILITY.md lists them), for a file with one name, a hard-linked
// file and a file reached through a symbolic link, in every format genrenet writes. After each failure the
// file is as it was or as written (a hard-linked file cut short half-way aside: its copy is kept); the next
// run finishes or discards every interrupted write, and undo restores every original value.
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>

#include "small_model.h"
#include "tag_test_files.h"
#include "test_util.h"

namespace genrenet {
namespace {

namespace fs = std::filesystem;

struct Original {
  std::string bytes;
  std::vector<double> samples;
};

enum class Kind { one_name, hard_link, symlink };
const char* kind_name(Kind k) { return k == Kind::one_name ? "one-name" : k == Kind::hard_link ? "hard-link" : "symlink"; }

class TagMatrix : public ::testing::TestWithParam<int> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    model_ = test::make_small_model_file(dir_->path()).string();
  }
  static void TearDownTestSuite() { delete dir_; }

  const test::TagFormat& format() const { return test::kFormats[GetParam()]; }
  fs::path root() const { return dir_->path() / format().name; }

  std::string tag_command(const std::string& args) const {
    return std::string(GENRENET_EXE) + " tag --model " + model_ + " --precision fp32 --threads 1 " + args;
  }

  // The file of one case, where the run is given it (a link for the symlink kind), and the other name
  // its content has (the hard link, the link's target) to check too.
  struct Case {
    std::string point, action;
    fs::path given, other;
  };
  Case make_case(Kind kind, const std::string& point, const std::string& action, const fs::path& template_file) const {
    const fs::path folder = root() / kind_name(kind), elsewhere = root() / (std::string(kind_name(kind)) + "-other");
    fs::create_directories(folder);
    fs::create_directories(elsewhere);
    const std::string name = point + "-" + action + "." + format().extension;
    Case c{point, action, folder / name, {}};
    if (kind == Kind::symlink) {
      c.other = elsewhere / name;
      fs::copy_file(template_file, c.other);
      fs::create_symlink(c.other, c.given);
    } else {
      fs::copy_file(template_file, c.given);
      if (kind == Kind::hard_link) {
        c.other = elsewhere / name;
        fs::create_hard_link(c.given, c.other);
      }
    }
    return c;
  }

  static std::vector<fs::path> working_copies(const fs::path& folder) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(folder))
      if (e.path().filename().string().find("genrenet-tag") != std::string::npos) out.push_back(e.path());
    return out;
  }

  // As it was, or as written: the same samples, the title kept, and the genre the old one or genrenet's.
  static void expect_whole(const fs::path& f, const Original& o, const std::string& written, const std::string& where) {
    SCOPED_TRACE(where);
    if (test::read_bytes(f) == o.bytes) return;
    EXPECT_EQ(test::samples_of(f), o.samples) << "the audio changed";
    EXPECT_EQ(test::title_of(f), "A title that must survive");
    EXPECT_EQ(read_tag(f, TagField::genre), written);
  }

  static test::TempDir* dir_;
  static std::string model_;
};
test::TempDir* TagMatrix::dir_ = nullptr;
std::string TagMatrix::model_;

TEST_P(TagMatrix, EveryCommitPointKilledOrOutOfSpaceLeavesEveryFileWholeAndUndoable) {
  fs::create_directories(root() / "template");
  const fs::path template_file = test::make_tagged_file(root() / "template", "song", format());
  const Original original{test::read_bytes(template_file), test::samples_of(template_file)};
  // The value genrenet writes into this file (a dry run says it).
  const auto dry = test::run(tag_command("--report jsonl " + template_file.string()));
  ASSERT_EQ(dry.status, 0) << dry.output;
  const std::string written = nlohmann::json::parse(dry.output.substr(dry.output.find('{'), dry.output.find('\n', dry.output.find('{')) -
                                                                                             dry.output.find('{')))
                                  .at("new");
  for (const Kind kind : {Kind::one_name, Kind::hard_link, Kind::symlink}) {
    SCOPED_TRACE(kind_name(kind));
    const fs::path journal = root() / (std::string(kind_name(kind)) + ".sqlite");
    std::vector<std::string> kills = {"copy-made", "copy-checked", "pending", "replaced", "committed"};
    std::vector<std::string> full = {"copy", "save", "journal-begin", "journal-finish"};
    if (kind == Kind::hard_link) {
      kills.push_back("copy-back");
      full.push_back("journal-phase");
      full.push_back("copy-back");
    }
    std::vector<Case> cases;
    for (const auto& p : kills) cases.push_back(make_case(kind, p, "kill", template_file));
    for (const auto& p : full) cases.push_back(make_case(kind, p, "enospc", template_file));
    for (const Case& c : cases) {
      const std::string where = c.point + ":" + c.action;
      const auto r = test::run("GENRENET_FAILPOINT=" + where + ":" + c.given.filename().string() + " " +
                               tag_command("--write --journal " + journal.string() + " " + c.given.string()));
      // The point was reached: killed there, or the write refused there.
      ASSERT_EQ(r.status, c.action == "kill" ? 128 + SIGKILL : 1) << where << "\n" << r.output;
      if (c.point == "copy-back" && test::read_bytes(c.given) != original.bytes) {
        // Cut short half-way (unless the first half of the new bytes is the old one's: AIFF's tag is at the
        // end): the complete copy is kept beside it.
        const auto copies = working_copies(fs::canonical(c.given).parent_path());
        EXPECT_EQ(std::count_if(copies.begin(), copies.end(),
                                [&](const fs::path& p) { return p.filename().string().find(c.given.filename().string()) != std::string::npos; }),
                  1)
            << where << ": its copy is kept";
        if (c.action == "enospc") EXPECT_NE(r.output.find("is kept at"), std::string::npos) << r.output;
      } else {
        expect_whole(c.given, original, written, where);
      }
      if (!c.other.empty()) EXPECT_EQ(test::read_bytes(c.other), test::read_bytes(c.given)) << where << ": the other name";
      if (kind == Kind::symlink) EXPECT_TRUE(fs::is_symlink(c.given)) << where;
    }
    // The next run resolves every interrupted write first, then writes what is left.
    const auto again = test::run(tag_command("--write --report jsonl --journal " + journal.string() + " " + (root() / kind_name(kind)).string()));
    ASSERT_EQ(again.status, 0) << again.output;
    for (const Case& c : cases) {
      SCOPED_TRACE(c.point + ":" + c.action + " then rerun");
      EXPECT_EQ(read_tag(c.given, TagField::genre), written);
      EXPECT_EQ(test::samples_of(c.given), original.samples);
      EXPECT_EQ(test::title_of(c.given), "A title that must survive");
      if (!c.other.empty()) EXPECT_EQ(test::read_bytes(c.other), test::read_bytes(c.given));
    }
    for (const auto& folder : {root() / kind_name(kind), root() / (std::string(kind_name(kind)) + "-other")})
      EXPECT_TRUE(working_copies(folder).empty()) << folder;
    // Undo: every original value back, the audio the same.
    const auto undo = test::run(std::string(GENRENET_EXE) + " tag --undo " + journal.string());
    ASSERT_EQ(undo.status, 0) << undo.output;
    EXPECT_NE(undo.output.find("restored " + std::to_string(cases.size()) + " files"), std::string::npos) << undo.output;
    for (const Case& c : cases) {
      SCOPED_TRACE(c.point + ":" + c.action + " then undo");
      EXPECT_EQ(read_tag(c.given, TagField::genre), "Chanson");
      EXPECT_EQ(test::samples_of(c.given), original.samples);
      if (!c.other.empty()) EXPECT_EQ(test::read_bytes(c.other), test::read_bytes(c.given));
      if (kind == Kind::symlink) EXPECT_TRUE(fs::is_symlink(c.given));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryFormat, TagMatrix, ::testing::Range(0, static_cast<int>(std::size(test::kFormats))),
                         [](const ::testing::TestParamInfo<int>& i) { return std::string(test::kFormats[i.param].name); });

}  // namespace
}  // namespace genrenet
