// The Classifier API: windows over long audio, the model's own feature options, memory and file input
// giving the same answer, concurrency, bad input, and collecting files from folders and lists.
#include <numeric>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>
#include <genrenet/train.h>

#include "small_model.h"
#include "infer/grad_cam.h"
#include "test_util.h"

namespace genrenet {
namespace {

using test::small_features;

std::vector<float> probabilities_by_hand(const std::filesystem::path& model_path, const std::vector<Spectrogram>& inputs) {
  ModelFile mf = read_model_file(model_path);
  ResNet m = load_model(mf);
  torch::NoGradGuard ng;
  torch::Tensor p = torch::softmax(m->forward(stack_spectrograms(inputs, 3)), 1).mean(0).contiguous();
  return {p.data_ptr<float>(), p.data_ptr<float>() + p.numel()};
}

class ClassifierTest : public ::testing::Test {
 protected:
  void SetUp() override { model_ = test::make_small_model_file(dir_.path()); }
  test::TempDir dir_;
  std::filesystem::path model_;
  ClassifierOptions fp32() const {
    ClassifierOptions o;
    o.precision = "fp32";
    o.threads = 2;
    return o;
  }
};

TEST_F(ClassifierTest, ShortAudioIsOnePaddedInputAsInTraining) {
  Classifier clf(model_, fp32());
  EXPECT_EQ(clf.classes().size(), 4u);
  EXPECT_EQ(clf.features(), small_features());
  const auto x = synthesize_example_clip(6.0, 8000, 5);
  Classification c = clf.classify(x, 8000);
  EXPECT_EQ(c.window_count, 1);
  EXPECT_NEAR(c.duration_seconds, 6.0, 1e-3);
  // By hand with the model's options: quantise, log-mel, standardise, pad to 320 frames.
  std::vector<float> q = x;
  quantize_16bit(q);
  FeatureExtractor fx(small_features());
  auto expected = probabilities_by_hand(model_, {fx.model_input(q)});
  ASSERT_EQ(c.probabilities.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(c.probabilities[i], expected[i], 1e-5);
  EXPECT_NEAR(std::accumulate(c.probabilities.begin(), c.probabilities.end(), 0.0), 1.0, 1e-5);
  for (size_t i = 1; i < c.ranked.size(); ++i) EXPECT_GE(c.ranked[i - 1].probability, c.ranked[i].probability);
  EXPECT_EQ(c.ranked[0].probability, *std::max_element(c.probabilities.begin(), c.probabilities.end()));
}

TEST_F(ClassifierTest, LongAudioIsAveragedOverWindowsThatCoverTheEnd) {
  Classifier clf(model_, fp32());
  const auto x = synthesize_example_clip(25.0, 8000, 7);  // 782 frames of 256 at 8 kHz
  WindowOptions w;
  w.window_seconds = 8;  // 251 frames
  w.hop_seconds = 4;     // 125 frames
  w.per_window = true;
  Classification c = clf.classify(x, 8000, w);
  // Starts 0, 125, ..., 500 (while start + 251 < 782), then 531 so that the last window ends at the end.
  ASSERT_EQ(c.window_count, 6);
  ASSERT_EQ(c.windows.size(), 6u);
  EXPECT_DOUBLE_EQ(c.windows[0].start_seconds, 0.0);
  EXPECT_NEAR(c.windows[1].start_seconds, 4.0, 0.01);
  EXPECT_NEAR(c.windows.back().end_seconds, 25.0, 0.01);
  EXPECT_NEAR(c.windows.back().end_seconds - c.windows.back().start_seconds, 8.0, 0.05);
  // The answer is the mean of the windows', and each window is a standardised, padded piece of the log-mel.
  std::vector<float> q = x;
  quantize_16bit(q);
  FeatureExtractor fx(small_features());
  Spectrogram whole = fx.log_mel(q);
  std::vector<Spectrogram> pieces;
  for (int s : {0, 125, 250, 375, 500, 531})
    pieces.push_back(input_from_log_mel(fix_length(whole, 251, s, PadMode::Zero), small_features(), CropMode::Center));
  auto expected = probabilities_by_hand(model_, pieces);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(c.probabilities[i], expected[i], 1e-5);
  // Without windows: one centre crop of the whole standardised log-mel.
  w.windows = false;
  Classification one = clf.classify(x, 8000, w);
  EXPECT_EQ(one.window_count, 1);
  auto centre = probabilities_by_hand(model_, {input_from_log_mel(whole, small_features(), CropMode::Center)});
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(one.probabilities[i], centre[i], 1e-5);
}

TEST_F(ClassifierTest, SamplesFileAndBytesGiveTheSameAnswer) {
  Classifier clf(model_, fp32());
  const auto x = synthesize_example_clip(12.0, 22050, 9);
  write_wav(dir_ / "clip.wav", x, 22050);
  const std::vector<float> q = decode_audio(dir_ / "clip.wav").samples;  // what the 16-bit file holds
  Classification a = clf.classify(q, 22050);
  Classification b = clf.classify_file(dir_ / "clip.wav");
  const std::string bytes = test::read_bytes(dir_ / "clip.wav");
  Classification c = clf.classify_bytes({reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()}, "upload");
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(a.probabilities[i], b.probabilities[i], 1e-6);
    EXPECT_EQ(b.probabilities[i], c.probabilities[i]);
  }
}

TEST_F(ClassifierTest, ConcurrentCallsAgreeWithSerialOnes) {
  ClassifierOptions o;  // the default precision: bf16 where the CPU has it
  Classifier clf(model_, o);
  std::vector<std::vector<float>> clips;
  for (unsigned s = 0; s < 4; ++s) clips.push_back(synthesize_example_clip(9.0 + s, 8000, s + 1));
  std::vector<std::vector<float>> serial;
  for (auto& x : clips) serial.push_back(clf.classify(x, 8000).probabilities);
  std::vector<std::thread> workers;
  std::atomic<int> mismatches = 0;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        auto p = clf.classify(clips[(t + rep) % 4], 8000).probabilities;
        for (int i = 0; i < 4; ++i) mismatches += std::abs(p[i] - serial[(t + rep) % 4][i]) > 1e-5;
      }
    });
  for (auto& w : workers) w.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// Why a genre: Grad-CAM of every window, placed back on the whole log-mel. A single window's map is
// grad_cam's on the model input, cut to the audio and scaled to a peak of 1.
TEST_F(ClassifierTest, ExplainMapsEveryWindowOfTheAudio) {
  Classifier clf(model_, fp32());
  const auto shorter = synthesize_example_clip(6.0, 8000, 5);
  const Explanation one = clf.explain(shorter, 8000);
  std::vector<float> q = shorter;
  quantize_16bit(q);
  FeatureExtractor fx(small_features());
  const Spectrogram whole_short = fx.log_mel(q);
  ASSERT_EQ(one.map.n_frames, whole_short.n_frames);
  ASSERT_EQ(one.map.n_mels, whole_short.n_mels);
  ResNet net = load_model(read_model_file(model_));
  const std::vector<std::string>& classes = clf.classes();
  const int64_t c = std::find(classes.begin(), classes.end(), one.genre) - classes.begin();
  const Spectrogram input = fx.model_input(q);
  torch::Tensor by_hand = grad_cam(net, stack_spectrograms(std::span(&input, 1), 3), {c}).maps[0];
  by_hand = by_hand.narrow(1, 0, whole_short.n_frames);
  by_hand = (by_hand / by_hand.max()).contiguous();
  for (size_t i = 0; i < one.map.data.size(); i += 97) ASSERT_NEAR(one.map.data[i], by_hand.data_ptr<float>()[i], 1e-5);
  EXPECT_EQ(one.genre, clf.classify(shorter, 8000).ranked[0].genre);

  // A long file: six windows, as classify cuts them; the map covers the whole log-mel, peak 1.
  const auto x = synthesize_example_clip(25.0, 8000, 7);
  ExplainOptions o;
  o.windows.window_seconds = 8;
  o.windows.hop_seconds = 4;
  const Explanation e = clf.explain(x, 8000, o);
  EXPECT_EQ(e.map.n_frames, 782);
  EXPECT_EQ(e.log_mel.n_frames, 782);
  ASSERT_EQ(e.windows.size(), 6u);
  EXPECT_NEAR(e.windows[1].start_seconds, 4.0, 0.01);
  EXPECT_NEAR(e.windows.back().end_seconds, 25.0, 0.05);
  EXPECT_FLOAT_EQ(*std::max_element(e.map.data.begin(), e.map.data.end()), 1.f);
  EXPECT_GE(*std::min_element(e.map.data.begin(), e.map.data.end()), 0.f);
  for (auto& w : e.windows) {
    EXPECT_EQ(w.time_mass.size(), 9u);  // 8 s at 31.25 frames a second: eight whole seconds and a remainder
    EXPECT_NEAR(std::accumulate(w.time_mass.begin(), w.time_mass.end(), 0.0), 1.0, 1e-4);
    EXPECT_NEAR(std::accumulate(w.band_mass.begin(), w.band_mass.end(), 0.0), 1.0, 1e-4);
  }
  ASSERT_EQ(e.bands.size(), 8u);
  EXPECT_NEAR(e.bands.front().first, 0.0, 1e-6);
  EXPECT_NEAR(e.bands.back().second, 4000.0, 1.0);
  // The genre is the fp32 windows' mean; another genre can be asked for; an unknown one is an error.
  WindowOptions w = o.windows;
  const Classification cl = clf.classify(x, 8000, w);
  EXPECT_EQ(e.genre, cl.ranked[0].genre);
  EXPECT_NEAR(e.probability, cl.ranked[0].probability, 1e-5);
  o.genre = cl.ranked[3].genre;
  EXPECT_EQ(clf.explain(x, 8000, o).genre, cl.ranked[3].genre);
  o.genre = "polka";
  EXPECT_THROW(clf.explain(x, 8000, o), Error);
  auto j = nlohmann::json::parse(e.to_json());
  EXPECT_EQ(j["windows"].size(), 6u);
  EXPECT_EQ(j["bands"].size(), 8u);
  EXPECT_EQ(j["genre"], e.genre);
  // Threads explaining at once agree with the serial answer.
  std::vector<std::thread> threads;
  std::atomic<int> differ = 0;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&] { differ += clf.explain(shorter, 8000).map.data != one.map.data; });
  for (auto& t : threads) t.join();
  EXPECT_EQ(differ.load(), 0);
  // The picture.
  const std::string png = explanation_png(e, clf.features());
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

// Evidence in one time span of an input is where the map puts its mass: an input that is zero except for
// frames [700, 760) (exactly zero activations wherever layer4 does not see the span) and the class with the
// most evidence.
TEST(GradCam, EvidenceInOneTimeSpanIsWhereTheMapIs) {
  torch::manual_seed(11);
  ResNet net = make_model(ModelOptions{});
  net->eval();
  torch::Tensor x = torch::zeros({1, 3, 128, 1024});
  x.narrow(3, 700, 60).copy_(torch::randn({1, 1, 128, 60}).repeat({1, 3, 1, 1}));
  double best_mass = -1;
  torch::Tensor map;
  for (int64_t c = 0; c < 10; ++c) {
    torch::Tensor m = grad_cam(net, x, {c}).maps[0];
    if (m.sum().item<double>() > best_mass) {
      best_mass = m.sum().item<double>();
      map = m;
    }
  }
  ASSERT_GT(best_mass, 0);
  const torch::Tensor per_frame = map.sum(0);
  const double total = per_frame.sum().item<double>();
  const double near = per_frame.narrow(0, 700 - 100, 260).sum().item<double>() / total;
  const int64_t peak = per_frame.argmax().item<int64_t>();
  std::printf("[ grad-cam ] mass within 100 frames of the span: %.3f; peak at frame %lld\n", near, static_cast<long long>(peak));
  EXPECT_GT(near, 0.5);
  EXPECT_GE(peak, 700 - 100);
  EXPECT_LT(peak, 760 + 100);
  EXPECT_EQ(per_frame.narrow(0, 0, 200).sum().item<double>(), 0.0);  // far from the span: nothing at all
}

TEST_F(ClassifierTest, BadInputIsAClearErrorAndABatchGoesOn) {
  Classifier clf(model_, fp32());
  std::vector<float> x = synthesize_example_clip(3.0, 8000, 2);
  x[100] = std::nanf("");
  try {
    clf.classify(x, 8000);
    FAIL() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
  EXPECT_THROW(clf.classify(std::vector<float>{}, 8000), Error);
  // Less than one analysis window (this model's n_fft: 512 samples at 8 kHz) is not classified.
  for (size_t n : {size_t{1}, size_t{511}}) {
    try {
      clf.classify(std::vector<float>(n, 0.1f), 8000);
      ADD_FAILURE() << n << " samples were classified";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("too short"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(clf.classify(std::vector<float>(512, 0.1f), 8000));
  write_wav(dir_ / "one-sample.wav", std::vector<float>{0.5f}, 8000);
  auto one = clf.classify_files({dir_ / "one-sample.wav"});
  EXPECT_NE(one[0].error.find("too short"), std::string::npos) << one[0].error;
  EXPECT_THROW(clf.classify(synthesize_example_clip(1.0, 8000, 2), 10), Error);
  const std::string junk = "this is not audio at all";
  try {
    clf.classify_bytes({reinterpret_cast<const unsigned char*>(junk.data()), junk.size()}, "upload.wav");
    FAIL() << "junk accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("upload.wav"), std::string::npos) << e.what();
  }
  WindowOptions bad;
  bad.hop_seconds = 0;
  EXPECT_THROW(clf.classify(synthesize_example_clip(1.0, 8000, 2), 8000, bad), Error);
  // A tiny hop would make one request cost thousands of inferences: at most 64 windows overlap, in seconds
  // (refused by name) and in frames (a hop rounded down to one frame is widened).
  bad.hop_seconds = 1e-300;
  try {
    bad.validate();
    FAIL() << "hop 1e-300 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 64 windows overlap"), std::string::npos) << e.what();
  }
  WindowOptions fine_hop;
  fine_hop.window_seconds = 1;
  fine_hop.hop_seconds = 1.0 / 64;  // rounds to zero frames of 16 ms
  const auto clip = synthesize_example_clip(11.0, 8000, 3);  // 344 frames of 32 ms, longer than the input
  const int windows = clf.classify(clip, 8000, fine_hop).window_count;
  EXPECT_EQ(windows, 344 - 32 + 1);  // windows of 32 frames, one frame apart

  write_wav(dir_ / "good.wav", synthesize_example_clip(4.0, 16000, 4), 16000);
  test::write_bytes(dir_ / "bad.wav", "RIFF....WAVEjunk");
  size_t reported = 0;
  auto rs = clf.classify_files({dir_ / "good.wav", dir_ / "bad.wav", dir_ / "missing.flac", dir_ / "good.wav"}, {},
                               [&](size_t n) { reported += n; });
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(reported, 4u);
  EXPECT_TRUE(rs[0].error.empty());
  EXPECT_NE(rs[1].error.find("bad.wav"), std::string::npos);
  EXPECT_NE(rs[2].error.find("no such file"), std::string::npos);
  EXPECT_EQ(rs[0].result.probabilities, rs[3].result.probabilities);
  EXPECT_NEAR(rs[0].result.probabilities[0], clf.classify_file(dir_ / "good.wav").probabilities[0], 1e-6);

  test::write_bytes(dir_ / "junk.safetensors", "not a model");
  EXPECT_THROW(Classifier(dir_ / "junk.safetensors"), Error);
  EXPECT_THROW(Classifier(dir_ / "absent.safetensors"), Error);
}

// Batches of many files go through in chunks, the next chunk decoded while the model runs on this one: every
// entry must still be its own file's answer (or error), in order, whatever chunk it fell in.
TEST_F(ClassifierTest, ManyFilesInSeveralChunksEachGetTheirOwnAnswer) {
  ClassifierOptions o = fp32();
  o.batch = 1;  // chunks of max(2 * batch, 4 * threads) = 8 files
  Classifier clf(model_, o);
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 19; ++i) {
    files.push_back(dir_ / ("f" + std::to_string(i) + ".wav"));
    if (i % 7 == 3)
      test::write_bytes(files.back(), "RIFF....WAVEjunk");
    else
      write_wav(files.back(), synthesize_example_clip(2.0 + 0.5 * (i % 5), 8000, static_cast<unsigned>(i)), 8000);
  }
  // Both ways of taking the chunks: in turns (the CPU default) and decoding ahead (the GPU default).
  for (const char* ahead : {"0", "1"}) {
    SCOPED_TRACE(std::string("GENRENET_DECODE_AHEAD=") + ahead);
    ::setenv("GENRENET_DECODE_AHEAD", ahead, 1);
    size_t reported = 0;
    const auto rs = clf.classify_files(files, {}, [&](size_t n) { reported += n; });
    const auto es = clf.embed_files(files);
    ::unsetenv("GENRENET_DECODE_AHEAD");
    ASSERT_EQ(rs.size(), files.size());
    ASSERT_EQ(es.size(), files.size());
    EXPECT_EQ(reported, files.size());
    for (size_t i = 0; i < files.size(); ++i) {
      SCOPED_TRACE(files[i].string());
      EXPECT_EQ(rs[i].file, files[i]);
      EXPECT_EQ(es[i].file, files[i]);
      if (i % 7 == 3) {
        EXPECT_NE(rs[i].error.find(files[i].filename().string()), std::string::npos) << rs[i].error;
        EXPECT_FALSE(es[i].error.empty());
        continue;
      }
      ASSERT_TRUE(rs[i].error.empty()) << rs[i].error;
      const Classification one = clf.classify_file(files[i]);
      ASSERT_EQ(rs[i].result.probabilities.size(), one.probabilities.size());
      for (size_t k = 0; k < one.probabilities.size(); ++k) EXPECT_NEAR(rs[i].result.probabilities[k], one.probabilities[k], 1e-5);
      EXPECT_NEAR(rs[i].result.duration_seconds, one.duration_seconds, 1e-9);
      const Embedding e = clf.embed_file(files[i]);
      ASSERT_EQ(es[i].result.values.size(), e.values.size());
      for (size_t k = 0; k < e.values.size(); k += 37) EXPECT_NEAR(es[i].result.values[k], e.values[k], 1e-5);
    }
  }
}

// `genrenet predict` over a folder and a list: the three output formats, windows, and the exit status.
// `genrenet explain`: the picture, and with --json the API's explanation.
TEST_F(ClassifierTest, ExplainCommandDrawsAndPrints) {
  const std::string exe = GENRENET_EXE;
  write_wav(dir_ / "song.wav", synthesize_example_clip(14.0, 8000, 3), 8000);
  auto r = test::run(exe + " explain -m " + model_.string() + " " + (dir_ / "song.wav").string() + " --out " +
                     (dir_ / "why.png").string() + " --json --window 8 --hop 4");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ClassifierOptions o = fp32();
  ExplainOptions eo;
  eo.windows.window_seconds = 8;
  eo.windows.hop_seconds = 4;
  const Explanation e = Classifier(model_, o).explain_file(dir_ / "song.wav", eo);
  EXPECT_EQ(j["genre"], e.genre);
  EXPECT_EQ(j["windows"].size(), e.windows.size());
  EXPECT_EQ(test::read_bytes(dir_ / "why.png").substr(1, 3), "PNG");
  r = test::run(exe + " explain -m " + model_.string() + " " + (dir_ / "song.wav").string() + " --genre polka --out " +
                (dir_ / "no.png").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("\"polka\" is not one of the model's genres (blues, disco, jazz, rock)"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "no.png"));
}

TEST_F(ClassifierTest, PredictCommandFormatsAndExitStatus) {
  const std::string exe = GENRENET_EXE;
  std::filesystem::create_directories(dir_ / "music/sub");
  write_wav(dir_ / "music/short.wav", synthesize_example_clip(5.0, 16000, 1), 16000);
  write_wav(dir_ / "music/sub/long.wav", synthesize_example_clip(25.0, 8000, 2), 8000);
  const std::string base = exe + " predict --model " + model_.string() + " --precision fp32 --window 8 --hop 4 ";
  auto r = test::run(base + (dir_ / "music").string() + " --per-window --format jsonl");
  ASSERT_EQ(r.status, 0) << r.output;
  std::vector<nlohmann::json> rows;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u) << r.output;
  EXPECT_NE(rows[0]["file"].get<std::string>().find("short.wav"), std::string::npos);
  EXPECT_EQ(rows[0]["windows"], 1);
  EXPECT_EQ(rows[1]["windows"], 6);
  EXPECT_EQ(rows[1]["per_window"].size(), 6u);
  EXPECT_EQ(rows[1]["top"].size(), 3u);
  EXPECT_EQ(rows[1]["ranked"], rows[1]["top"]);  // "top": the old name, kept one release
  EXPECT_EQ(rows[1]["per_window"][0]["ranked"].size(), 3u);
  EXPECT_EQ(rows[1]["probabilities"].size(), 4u);
  // The same numbers as the C++ API.
  WindowOptions w;
  w.window_seconds = 8;
  w.hop_seconds = 4;
  ClassifierOptions o = fp32();
  Classification c = Classifier(model_, o).classify_file(dir_ / "music/sub/long.wav", w);
  EXPECT_NEAR(rows[1]["probabilities"][c.ranked[0].genre].get<double>(), c.ranked[0].probability, 1e-5);

  test::write_bytes(dir_ / "broken.flac", "fLaC but nothing after");
  test::write_bytes(dir_ / "list.txt", (dir_ / "music/short.wav").string() + "\n" + (dir_ / "broken.flac").string() + "\n");
  r = test::run(base + "@" + (dir_ / "list.txt").string() + " --format csv --top 2");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("file,window,start_s,end_s,genre_1,probability_1,genre_2,probability_2,error"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("short.wav,all,0.00,5.00,"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("broken.flac,,,,,,,,"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 of 2 files could not be classified"), std::string::npos) << r.output;

  r = test::run(base + (dir_ / "music").string() + " --top 1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("duration  genres (probability)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("long.wav  "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("    0:25  " + c.ranked[0].genre), std::string::npos) << r.output;
  r = test::run(base + (dir_ / "nothing-here").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no such file"), std::string::npos) << r.output;
  r = test::run(exe + " predict --model " + model_.string() + " " + (dir_ / "music").string() + " --hop 0");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("hop: must be in (0, 900]"), std::string::npos) << r.output;
}

TEST_F(ClassifierTest, CudaWithoutAGpuSaysWhyByName) {
  // Both LibTorch lines on a machine without a GPU: Debian's (no CUDA at all) and PyPI's wheel (a CUDA build
  // that sees no device) each say which, and the CPU still works.
  if (cuda_unavailable_reason().empty()) GTEST_SKIP() << "a GPU is visible here";
  const std::string exe = GENRENET_EXE;
  write_wav(dir_ / "a.wav", synthesize_example_clip(3.0, 16000, 1), 16000);
  auto r = test::run(exe + " predict --model " + model_.string() + " --device cuda " + (dir_ / "a.wav").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("device cuda: this LibTorch (" + libtorch_version() + ")"), std::string::npos) << r.output;
  EXPECT_TRUE(r.output.find("was built without CUDA") != std::string::npos ||
              r.output.find("is a CUDA build but sees no GPU") != std::string::npos)
      << r.output;
  r = test::run(exe + " predict --model " + model_.string() + " --device cpu " + (dir_ / "a.wav").string());
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(CollectAudioFiles, FoldersRecursivelyListsAndPlainPaths) {
  test::TempDir d;
  std::filesystem::create_directories(d / "music/a/deeper");
  for (auto n : {"music/b.flac", "music/a/x.WAV", "music/a/deeper/y.mp3", "music/notes.txt", "music/a/cover.jpg"})
    test::write_bytes(d / n, "x");
  test::write_bytes(d / "list.txt", "# my picks\n" + (d / "one.ogg").string() + "\n\n   " + (d / "two.au").string() + "  \n");
  auto files = collect_audio_files({(d / "music").string(), "@" + (d / "list.txt").string(), "plain.wav"});
  std::vector<std::filesystem::path> expected = {d / "music/a/deeper/y.mp3", d / "music/a/x.WAV", d / "music/b.flac",
                                                 d / "one.ogg", d / "two.au", "plain.wav"};
  EXPECT_EQ(files, expected);
  EXPECT_THROW(collect_audio_files({"@" + (d / "nolist.txt").string()}), Error);
}

// One JSON form of a classification for predict, the server and the API.
TEST(ClassificationJson, TheOneShapeWithTopKRanked) {
  Classification c;
  c.probabilities = {0.2f, 0.7f, 0.1f};
  c.ranked = {{"rock", 0.7f}, {"jazz", 0.2f}, {"pop", 0.1f}};
  c.window_count = 3;
  c.duration_seconds = 61.5;
  c.seconds_taken = 0.25;
  auto j = nlohmann::json::parse(c.to_json(2));
  EXPECT_EQ(j["genre"], "rock");
  ASSERT_EQ(j["ranked"].size(), 2u);
  EXPECT_EQ(j["ranked"][1]["genre"], "jazz");
  EXPECT_NEAR(j["probabilities"]["pop"].get<double>(), 0.1, 1e-6);
  EXPECT_EQ(j["probabilities"].size(), 3u);
  EXPECT_EQ(j["windows"], 3);
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 61.5);
  EXPECT_FALSE(j.contains("per_window"));
  c.windows = {{0, 30, c.ranked}, {15, 45, c.ranked}};
  j = nlohmann::json::parse(c.to_json());
  EXPECT_EQ(j["ranked"].size(), 3u);  // every genre by default
  ASSERT_EQ(j["per_window"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["per_window"][1]["start_s"].get<double>(), 15);
  EXPECT_EQ(j["per_window"][1]["ranked"].size(), 3u);
}

}  // namespace
}  // namespace genrenet
