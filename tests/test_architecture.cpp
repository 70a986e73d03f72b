// The house's rules, checked on its sources (docs/ARCHITECTURE.md): library code reports through the log
// callback and never writes to stdout; no runtime, evaluation, library or serving source includes a training
// header; no two folders of src/ include each other's headers (directly or round a longer loop). And the
// process-wide helpers that replaced global switches: the signal helper puts back what it found, a silenced
// progress bar does not stay silenced.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "common/progress.h"
#include "common/stop_signals.h"

namespace genrenet {
namespace {

namespace sfs = std::filesystem;

struct Source {
  sfs::path path;  // relative to src/
  std::string text;
};

std::vector<Source> sources() {
  std::vector<Source> out;
  const sfs::path src = sfs::path(GENRENET_SOURCE_DIR) / "src";
  for (const auto& e : sfs::recursive_directory_iterator(src)) {
    const auto ext = e.path().extension();
    if (!e.is_regular_file() || (ext != ".cpp" && ext != ".h")) continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    out.push_back({sfs::relative(e.path(), src), text.str()});
  }
  EXPECT_GT(out.size(), 100u) << "the sources were not found under " << src;
  return out;
}

std::string folder_of(const Source& s) { return s.path.begin()->string(); }

// Each line without its // comment (so that a comment naming printf is no finding).
std::vector<std::string> code_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t comment = line.find("//");
    lines.push_back(comment == std::string::npos ? line : line.substr(0, comment));
  }
  return lines;
}

TEST(Architecture, NoLibrarySourceWritesToStdout) {
  // printf / puts / cout, or a FILE function given stdout (fflush(stdout) before a fork writes nothing).
  const std::regex writes(R"((^|[^A-Za-z_:])(std::)?(printf|puts|putchar)\s*\(|std::cout|\bf(printf|puts|write|putc)\s*\([^;]*\bstdout\b)");
  int checked = 0;
  for (const Source& s : sources()) {
    if (folder_of(s) == "cli") continue;
    ++checked;
    int n = 0;
    for (const std::string& line : code_lines(s.text)) {
      ++n;
      EXPECT_FALSE(std::regex_search(line, writes)) << "src/" << s.path.string() << ":" << n << ": " << line;
    }
  }
  EXPECT_GT(checked, 80);
  // The check itself finds what it is for.
  EXPECT_TRUE(std::regex_search(std::string("  std::printf(\"%d\\n\", 1);"), writes));
  EXPECT_TRUE(std::regex_search(std::string("std::fprintf(stdout, \"x\");"), writes));
  EXPECT_FALSE(std::regex_search(std::string("std::snprintf(buf, 8, \"x\"); logf(LogLevel::Note, \"x\");"), writes));
}

TEST(Architecture, NothingBelowTrainingIncludesATrainingHeader) {
  const std::regex training_header(R"(#include\s*[<"](train/|genrenet/(train|experiments|distributed)\.h))");
  for (const Source& s : sources()) {
    const std::string f = folder_of(s);
    if (f != "infer" && f != "eval" && f != "library" && f != "serve") continue;
    for (const std::string& line : code_lines(s.text))
      EXPECT_FALSE(std::regex_search(line, training_header)) << "src/" << s.path.string() << ": " << line;
  }
}

TEST(Architecture, NoLoopBetweenFolders) {
  const std::regex include(R"re(#include\s*"([a-z_]+)/)re");
  std::map<std::string, std::set<std::string>> uses;  // folder -> folders whose headers it includes
  std::map<std::pair<std::string, std::string>, std::string> example;
  for (const Source& s : sources()) {
    const std::string from = folder_of(s);
    for (const std::string& line : code_lines(s.text)) {
      std::smatch m;
      if (!std::regex_search(line, m, include) || m[1] == from) continue;
      uses[from].insert(m[1]);
      example.emplace(std::make_pair(from, m[1].str()), "src/" + s.path.string() + ": " + line);
    }
  }
  ASSERT_TRUE(uses.count("cli"));
  // Depth-first search for a cycle; the path found is printed.
  std::map<std::string, int> state;  // 0 unseen, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<bool(const std::string&)> loops = [&](const std::string& f) {
    state[f] = 1;
    path.push_back(f);
    for (const std::string& g : uses[f]) {
      if (state[g] == 1) {
        path.push_back(g);
        return true;
      }
      if (state[g] == 0 && loops(g)) return true;
    }
    path.pop_back();
    state[f] = 2;
    return false;
  };
  for (const auto& [f, _] : uses) {
    if (state[f] != 0) continue;
    if (loops(f)) {
      std::string said;
      for (size_t i = 0; i + 1 < path.size(); ++i) said += "\n  " + example[{path[i], path[i + 1]}];
      ADD_FAILURE() << "a loop between folders:" << said;
      break;
    }
  }
}

TEST(Architecture, TheSignalHelperStopsAndPutsBackWhatItFound) {
  struct sigaction before {};
  ::sigaction(SIGTERM, nullptr, &before);
  {
    StopSignals signals(StopSignals::Second::PassOn);
    EXPECT_FALSE(*signals.flag());
    std::raise(SIGTERM);
    EXPECT_TRUE(*signals.flag());
    EXPECT_EQ(signals.take(), SIGTERM);
    EXPECT_EQ(signals.take(), 0);
    std::raise(SIGINT);  // passed on: caught again
    EXPECT_EQ(signals.take(), SIGINT);
  }
  struct sigaction after {};
  ::sigaction(SIGTERM, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  {
    const StopSignals fresh;  // a new one starts unset
    EXPECT_FALSE(*fresh.flag());
  }
}

TEST(Architecture, ASilencedProgressBarDoesNotStaySilenced) {
  // The trainer of a worker other than rank 0 switched bars off for the rest of the process; a Silence ends
  // with its owner, and nested ones count.
  EXPECT_FALSE(ProgressBar::silenced());
  {
    const ProgressBar::Silence quiet;
    EXPECT_TRUE(ProgressBar::silenced());
    { const ProgressBar::Silence again; }
    EXPECT_TRUE(ProgressBar::silenced());
  }
  EXPECT_FALSE(ProgressBar::silenced());
}

}  // namespace
}  // namespace genrenet
