// End to end: the genrenet program as a user runs it.
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/library.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>
#include <genrenet/serve.h>
#include <genrenet/train.h>

#include "common/option_tables.h"
#include "common/text.h"
#include "small_model.h"
#include "test_util.h"

namespace genrenet {
namespace {

const std::string kExe = GENRENET_EXE;

TEST(Cli, HelpListsTheSubcommands) {
  auto r = test::run(kExe + " --help");
  EXPECT_EQ(r.status, 0);
  for (const char* sub : {"features", "show", "example-clip"}) EXPECT_NE(r.output.find(sub), std::string::npos);
  EXPECT_EQ(test::run(kExe + " features --help").status, 0);
  EXPECT_NE(test::run(kExe).status, 0);
}

TEST(Cli, FeaturesWritesNpyOfTheModelInput) {
  test::TempDir dir;
  auto clip = (dir / "clip.wav").string();
  ASSERT_EQ(test::run(kExe + " example-clip " + clip + " --seconds 5").status, 0);
  auto r = test::run(kExe + " features " + clip + " --out " + (dir / "out").string() + " --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"shape\":[128,1024]"), std::string::npos) << r.output;
  NpyArray a = read_npy(dir / "out" / "clip.npy");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{128, 1024}));
  // The same as the library computes: one code path for every caller.
  FeatureExtractor fx(FeatureOptions{});
  EXPECT_EQ(a.data, fx.model_input(std::filesystem::path(clip)).data);
}

TEST(Cli, EveryStageHasItsShape) {
  test::TempDir dir;
  auto clip = (dir / "c.wav").string();
  ASSERT_EQ(test::run(kExe + " example-clip " + clip + " --seconds 2 --sample-rate 22050").status, 0);
  struct {
    const char* stage;
    std::vector<std::int64_t> shape;
  } cases[] = {{"resampled", {32000}}, {"mel", {128, 63}}, {"db", {128, 63}}, {"input", {128, 1024}}};
  for (auto& c : cases) {
    auto out = dir / c.stage;
    auto r = test::run(kExe + " features " + clip + " --stage " + c.stage + " --out " + out.string());
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(read_npy(out / "c.npy").shape, c.shape) << c.stage;
  }
  EXPECT_NE(test::run(kExe + " features " + clip + " --stage bogus").status, 0);
}

TEST(Cli, OneBadFileIsReportedAndTheOthersAreStillProcessed) {
  test::TempDir dir;
  auto good1 = (dir / "good1.wav").string(), good2 = (dir / "good2.wav").string();
  ASSERT_EQ(test::run(kExe + " example-clip " + good1 + " --seconds 1").status, 0);
  ASSERT_EQ(test::run(kExe + " example-clip " + good2 + " --seconds 1 --seed 2").status, 0);
  test::write_bytes(dir / "bad.wav", "not audio at all");
  auto out = dir / "out";
  auto r = test::run(kExe + " features " + good1 + " " + (dir / "bad.wav").string() + " " + good2 +
                     " --out " + out.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("bad.wav: not a readable audio file"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(out / "good1.npy"));
  EXPECT_TRUE(std::filesystem::exists(out / "good2.npy"));
  EXPECT_FALSE(std::filesystem::exists(out / "bad.npy"));
}

// Files are written behind the computation of the next ones: a file that cannot be written is reported by name,
// in the order given, and the files after it are still computed and written.
TEST(Cli, AFileThatCannotBeWrittenIsReportedAndTheOthersAreStillWritten) {
  test::TempDir dir;
  std::string clips;
  for (int i = 0; i < 4; ++i) {
    const auto clip = (dir / ("c" + std::to_string(i) + ".wav")).string();
    ASSERT_EQ(test::run(kExe + " example-clip " + clip + " --seconds 1 --seed " + std::to_string(i + 1)).status, 0);
    clips += " " + clip;
  }
  auto out = dir / "out";
  std::filesystem::create_directories(out / "c1.npy" / "in-the-way");  // c1's .npy cannot replace a folder
  auto r = test::run(kExe + " features" + clips + " --out " + out.string() + " --threads 1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("c1.npy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 of 4 files failed"), std::string::npos) << r.output;
  for (int i : {0, 2, 3}) {
    const auto npy = out / ("c" + std::to_string(i) + ".npy");
    ASSERT_TRUE(std::filesystem::is_regular_file(npy)) << npy;
    EXPECT_EQ(read_npy(npy).shape, (std::vector<std::int64_t>{128, 1024}));
  }
  EXPECT_TRUE(std::filesystem::is_directory(out / "c1.npy" / "in-the-way"));
  // Printed in the order given, the failure between the others.
  const auto c0 = r.output.find("c0.wav"), c1 = r.output.find("c1.npy"), c2 = r.output.find("c2.wav");
  EXPECT_LT(c0, c1);
  EXPECT_LT(c1, c2);
}

TEST(Cli, BadFeatureFlagsAreClearErrors) {
  test::TempDir dir;
  auto clip = (dir / "c.wav").string();
  ASSERT_EQ(test::run(kExe + " example-clip " + clip + " --seconds 1").status, 0);
  auto r = test::run(kExe + " features " + clip + " --n-fft 1000 --no-write");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("n_fft"), std::string::npos) << r.output;
  r = test::run(kExe + " features " + clip + " --mel-scale bark --no-write");
  EXPECT_NE(r.output.find("mel_scale"), std::string::npos) << r.output;
}

TEST(Cli, FeatureConfigFileIsUsedAndFlagsOverrideIt) {
  test::TempDir dir;
  auto clip = (dir / "c.wav").string();
  ASSERT_EQ(test::run(kExe + " example-clip " + clip + " --seconds 1").status, 0);
  test::write_bytes(dir / "f.json", R"({"n_mels": 64, "frames": 100})");
  auto r = test::run(kExe + " features " + clip + " --feature-config " + (dir / "f.json").string() +
                     " --frames 50 --json --no-write");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"shape\":[64,50]"), std::string::npos) << r.output;
  test::write_bytes(dir / "bad.json", R"({"n_mels": "many"})");
  r = test::run(kExe + " features " + clip + " --feature-config " + (dir / "bad.json").string() + " --no-write");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("bad.json: feature option n_mels: wrong type"), std::string::npos) << r.output;
}

TEST(Cli, ShowDrawsBothFigures) {
  test::TempDir dir;
  auto clip = (dir / "c.wav").string();
  ASSERT_EQ(test::run(kExe + " example-clip " + clip + " --seconds 3").status, 0);
  auto r = test::run(kExe + " show " + clip + " --waveform " + (dir / "w.png").string() + " --mel " +
                     (dir / "m.png").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(test::read_bytes(dir / "w.png").substr(1, 3), "PNG");
  EXPECT_EQ(test::read_bytes(dir / "m.png").substr(1, 3), "PNG");
  EXPECT_NE(test::run(kExe + " show " + clip).status, 0);  // nothing asked for
  r = test::run(kExe + " show " + (dir / "missing.wav").string() + " --mel x.png");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("missing.wav: no such file"), std::string::npos) << r.output;
}

TEST(Cli, WeightsConvertInspectAndImport) {
  test::TempDir dir;
  ModelOptions o;
  o.num_classes = 1000;
  o.input_channels = 3;
  write_safetensors(dir / "in1k.safetensors", state_dict(*make_model(o)));
  auto r = test::run(kExe + " weights inspect " + (dir / "in1k.safetensors").string() + " --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"architecture\": \"resnet18\""), std::string::npos);
  auto model = (dir / "m.safetensors").string();
  r = test::run(kExe + " weights import " + (dir / "in1k.safetensors").string() +
                " --classes a,b,c --out " + model);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("starts from random weights"), std::string::npos) << r.output;
  ModelFile f = read_model_file(model);
  EXPECT_EQ(f.classes, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(f.model.input_channels, 3);
  r = test::run(kExe + " weights import " + (dir / "in1k.safetensors").string() + " --arch resnet50 --classes a --out x.safetensors");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("holds resnet18 weights, not resnet50"), std::string::npos) << r.output;
  test::write_bytes(dir / "junk.pth", "junk");
  r = test::run(kExe + " weights inspect " + (dir / "junk.pth").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("junk.pth"), std::string::npos) << r.output;
}

TEST(Text, BytesThatAreNotUtf8AndControlsAreEscapedNothingElse) {
  EXPECT_EQ(utf8_safe("caf\xC3\xA9 \xE2\x99\xAA.wav"), "caf\xC3\xA9 \xE2\x99\xAA.wav");  // valid UTF-8 stays
  EXPECT_EQ(utf8_safe("a\xFF" "b"), "a\\xFFb");
  EXPECT_EQ(utf8_safe("\xC0\xAF"), "\\xC0\\xAF");          // an overlong '/'
  EXPECT_EQ(utf8_safe("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // a UTF-16 surrogate
  EXPECT_EQ(utf8_safe("cut \xE2\x99"), "cut \\xE2\\x99");     // a sequence cut short
  EXPECT_EQ(utf8_safe("a\\b", true), "a\\\\b");
  EXPECT_EQ(printable("\x1B[31mred\x07"), "\\x1B[31mred\\x07");
  EXPECT_EQ(printable("\xC2\x9B" "2J"), "\\xC2\\x9B2J");  // a C1 control (CSI) written in UTF-8
  EXPECT_EQ(printable("ok name.wav"), "ok name.wav");
}

TEST(Cli, FileNamesOfAnyBytesArePrintedSafelyAndNeverStopABatch) {
  test::TempDir dir;
  const auto good = dir / "good.wav";
  write_wav(good, test::sine(440, 1.0, 8000), 8000);
  const auto odd = dir / std::string("bad\xFFname.wav");
  const auto esc = dir / std::string("\x1B[31mred.wav");
  std::filesystem::copy_file(good, odd);
  std::filesystem::copy_file(good, esc);
  const std::string files = "'" + odd.string() + "' '" + esc.string() + "' " + good.string();
  const std::string model = test::make_small_model_file(dir.path()).string();
  auto json_lines = [](const std::string& out) {
    std::vector<nlohmann::json> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] == '{') v.push_back(nlohmann::json::parse(line));
    return v;
  };
  for (const std::string cmd : {kExe + " features --no-write --json " + files,
                                kExe + " predict --precision fp32 --format jsonl -m " + model + " " + files}) {
    auto r = test::run(cmd);
    ASSERT_EQ(r.status, 0) << r.output;
    auto lines = json_lines(r.output);
    ASSERT_EQ(lines.size(), 3u) << r.output;
    EXPECT_NE(lines[0]["file"].get<std::string>().find("bad\\xFFname.wav"), std::string::npos) << r.output;
    EXPECT_FALSE(lines[1].contains("error")) << r.output;
  }
  for (const std::string cmd : {kExe + " features --no-write " + files,
                                kExe + " predict --precision fp32 -m " + model + " " + files}) {
    auto r = test::run(cmd);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find('\x1B'), std::string::npos) << r.output;  // no raw escape reaches the terminal
    EXPECT_NE(r.output.find("\\x1B[31mred.wav"), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace genrenet

namespace genrenet {
namespace {

// Issue 28: every runtime option is declared once, in its stage's option table, and every command that offers
// it offers that row: the same flag, help and rule everywhere (`--threads` was declared in 8 places, with
// different help), and every row with a flag is offered by some command.
TEST(CliOptions, EveryRuntimeOptionIsDeclaredOnce) {
  // flag -> the help text its row gives, and the table it is in.
  std::map<std::string, std::pair<std::string, std::string>> expected;
  auto rows = [&](const std::string& name, const auto& table) {
    for (const auto& f : table.fields()) {
      if (f.flag.empty()) continue;
      const std::string text = f.is_switch ? f.help : f.help + " (" + f.rule + ")";
      const auto [at, fresh] = expected.emplace(f.flag, std::make_pair(text, name));
      EXPECT_TRUE(fresh || at->second.first == text) << f.flag << " is declared twice, differently:\n  "
                                                     << at->second.first << "\n  " << text;
    }
  };
  rows("compute", compute_options_table());
  rows("classifier", classifier_options_table());
  rows("window", window_options_table());
  rows("index", similarity_index_options_table());
  rows("map", library_map_options_table());
  rows("tag", tag_options_table());
  rows("server", server_options_table());
  rows("calibrate", calibrate_options_table());
  // The tables each command offers (classifier includes compute's rows). A table's flag in a command that
  // does not offer the table must be another thing of the same name, and only these are.
  const std::map<std::string, std::set<std::string>> offers = {
      {"predict", {"classifier", "compute", "window"}},       {"serve", {"classifier", "compute", "server"}},
      {"explain", {"classifier", "compute", "window"}},       {"embed", {"classifier", "compute", "window"}},
      {"tag", {"classifier", "compute", "window", "tag"}},    {"index build", {"classifier", "compute", "window", "index"}},
      {"index add", {"classifier", "compute"}},               {"similar", {"classifier", "compute"}},
      {"index merge", {"index"}},                             {"index map", {"map"}},
      {"calibrate", {"calibrate"}},                           {"quantize", {"compute"}},
      {"evaluate", {"classifier", "compute"}},
      {"tune", {"compute"}}};
  // An output format, an index folder, tune's batch (TuneOptions, its own range).
  const std::set<std::string> same_name_other_thing = {"--format", "--index", "--batch"};
  std::set<std::string> offered;
  const std::string exe = GENRENET_EXE;
  for (const auto& [command, tables] : offers) {
    const auto r = test::run(exe + " " + command + " --help");
    ASSERT_EQ(r.status, 0) << command << ": " << r.output;
    // CLI11 writes an option with its type and default, then its help: on the same line, or on the next
    // when the option is long.
    std::vector<std::string> options;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      if (line.find_first_not_of(' ') != std::string::npos && line[line.find_first_not_of(' ')] == '-') options.push_back(line);
      else if (!options.empty() && line.rfind("      ", 0) == 0) options.back() += " " + line;
    }
    static const std::regex flag(R"(^\s+(?:-\w,)?(--[a-z0-9-]+)\b)");
    for (const std::string& line : options) {
      std::smatch m;
      if (!std::regex_search(line, m, flag)) continue;
      const auto row = expected.find(m[1]);
      if (row == expected.end()) continue;
      if (!tables.count(row->second.second)) {
        EXPECT_TRUE(same_name_other_thing.count(row->first)) << command << " declares " << row->first << " by hand:\n" << line;
        continue;
      }
      offered.insert(row->first);
      EXPECT_NE(line.find(row->second.first), std::string::npos)
          << command << " " << row->first << " is not its row's:\n" << line << "\n  expected: " << row->second.first;
    }
  }
  for (const auto& [flag, row] : expected) EXPECT_TRUE(offered.count(flag)) << flag << " is offered by no command";
  EXPECT_GE(offered.size(), 25u);
  // The command line names the flag, the library the option's key.
  auto bad = test::run(exe + " predict --model none.safetensors nothing.wav --hop 0");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("error: --hop: must be in (0, 900], got 0"), std::string::npos) << bad.output;
  bad = test::run(exe + " serve --model none.safetensors --port 70000");
  EXPECT_NE(bad.output.find("error: --port: must be in [0, 65535], got 70000"), std::string::npos) << bad.output;
  bad = test::run(exe + " predict --model none.safetensors nothing.wav --threads many");
  EXPECT_NE(bad.output.find("error: --threads: not a whole number in range: \"many\""), std::string::npos) << bad.output;
  WindowOptions w;
  w.hop_seconds = 0;
  try {
    w.validate();
    ADD_FAILURE() << "a hop of 0 was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "window option hop: must be in (0, 900], got 0.0");
  }
}

}  // namespace
}  // namespace genrenet
