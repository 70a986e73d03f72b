// A music library: embeddings (the pooled network features, windows averaged, unit length) from the C++ API
// and `genrenet embed` (a matrix, a list and the model's identity; resumable; another model refused).
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/model.h>

#include "small_model.h"
#include "test_util.h"

namespace genrenet {
namespace {

class Embeddings : public ::testing::Test {
 protected:
  void SetUp() override { model_ = test::make_small_model_file(dir_.path()); }
  ClassifierOptions fp32() const {
    ClassifierOptions o;
    o.precision = "fp32";
    o.threads = 2;
    return o;
  }
  test::TempDir dir_;
  std::filesystem::path model_;
};

// By hand: layer4 of every window pooled over frequency and time, averaged over windows, unit length.
std::vector<float> embedding_by_hand(const std::filesystem::path& model, const std::vector<Spectrogram>& inputs) {
  ResNet m = load_model(read_model_file(model));
  torch::NoGradGuard ng;
  torch::Tensor v = m->features(stack_spectrograms(inputs, 3)).mean({2, 3}).mean(0);
  v = (v / v.norm()).contiguous();
  return {v.data_ptr<float>(), v.data_ptr<float>() + v.numel()};
}

TEST_F(Embeddings, PooledFeaturesOfEveryWindowAveragedAndOfUnitLength) {
  Classifier clf(model_, fp32());
  EXPECT_EQ(clf.embedding_size(), 512);  // ResNet-18
  std::vector<float> x = synthesize_example_clip(6.0, 8000, 5);
  const Embedding e = clf.embed(x, 8000);
  ASSERT_EQ(e.values.size(), 512u);
  EXPECT_EQ(e.window_count, 1);
  EXPECT_NEAR(e.duration_seconds, 6.0, 1e-3);
  double norm = 0;
  for (float v : e.values) norm += static_cast<double>(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  quantize_16bit(x);
  FeatureExtractor fx(test::small_features());
  const auto expected = embedding_by_hand(model_, {fx.model_input(x)});
  for (size_t i = 0; i < 512; ++i) ASSERT_NEAR(e.values[i], expected[i], 1e-5) << i;

  // A long file: the windows classify cuts, averaged before normalising; the file, the bytes and the
  // batch API agree.
  write_wav(dir_ / "long.wav", synthesize_example_clip(25.0, 8000, 2), 8000);
  WindowOptions w;
  w.window_seconds = 8;
  w.hop_seconds = 4;
  const Embedding a = clf.embed_file(dir_ / "long.wav", w);
  EXPECT_EQ(a.window_count, clf.classify_file(dir_ / "long.wav", w).window_count);
  EXPECT_GT(a.window_count, 1);
  const std::string bytes = test::read_bytes(dir_ / "long.wav");
  const Embedding b = clf.embed_bytes({reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()}, "long.wav", w);
  test::write_bytes(dir_ / "broken.flac", "fLaC and nothing");
  const auto batch = clf.embed_files({dir_ / "long.wav", dir_ / "broken.flac"}, w);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_TRUE(batch[0].error.empty());
  EXPECT_NE(batch[1].error.find("broken.flac"), std::string::npos) << batch[1].error;
  for (size_t i = 0; i < 512; ++i) {
    ASSERT_NEAR(a.values[i], b.values[i], 1e-6);
    ASSERT_NEAR(a.values[i], batch[0].result.values[i], 1e-5);
  }
  // Two different pieces are different points.
  double dot = 0;
  for (size_t i = 0; i < 512; ++i) dot += static_cast<double>(a.values[i]) * e.values[i];
  EXPECT_LT(dot, 0.99999);
}

std::vector<nlohmann::json> jsonl(const std::filesystem::path& p) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST_F(Embeddings, EmbedCommandWritesAMatrixAListAndResumes) {
  const std::string exe = GENRENET_EXE;
  std::filesystem::create_directories(dir_ / "music");
  for (unsigned seed : {1u, 2u, 3u})
    write_wav(dir_ / "music" / ("song" + std::to_string(seed) + ".wav"), synthesize_example_clip(4.0 + seed, 8000, seed), 8000);
  const std::string base = exe + " embed --model " + model_.string() + " --out " + (dir_ / "lib").string() + " ";
  auto r = test::run(base + (dir_ / "music/song1.wav").string() + " " + (dir_ / "music/song2.wav").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("embedded 2 files (0 already there, 0 failed)"), std::string::npos) << r.output;
  NpyArray m = read_npy(dir_ / "lib/embeddings.npy");
  EXPECT_EQ(m.shape, (std::vector<int64_t>{2, 512}));
  auto rows = jsonl(dir_ / "lib/embeddings.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["row"], 1);
  EXPECT_EQ(rows[1]["sha256"].get<std::string>().size(), 64u);
  EXPECT_NE(rows[1]["file"].get<std::string>().find("song2.wav"), std::string::npos);
  const auto meta = nlohmann::json::parse(test::read_bytes(dir_ / "lib/embeddings.json"));
  EXPECT_EQ(meta["size"], 512);
  // Row 0 is the API's embedding of that file.
  const Embedding first = Classifier(model_, fp32()).embed_file(dir_ / "music/song1.wav");
  for (size_t i = 0; i < 512; ++i) ASSERT_NEAR(m.data[i], first.values[i], 1e-5);

  // The whole folder again, with a copy of song2 under another name and a broken file: only song3 is new.
  std::filesystem::copy_file(dir_ / "music/song2.wav", dir_ / "music/copy-of-song2.wav");
  test::write_bytes(dir_ / "music/broken.wav", "RIFF....WAVEfmt ");
  r = test::run(base + (dir_ / "music").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("embedded 1 files (3 already there, 1 failed)"), std::string::npos) << r.output;  // song1, song2 and its copy
  EXPECT_NE(r.output.find("broken.wav"), std::string::npos) << r.output;
  const NpyArray m2 = read_npy(dir_ / "lib/embeddings.npy");
  EXPECT_EQ(m2.shape, (std::vector<int64_t>{3, 512}));
  for (size_t i = 0; i < 2 * 512; ++i) ASSERT_EQ(m2.data[i], m.data[i]);  // rows already there are kept as they are
  EXPECT_NE(jsonl(dir_ / "lib/embeddings.jsonl")[2]["file"].get<std::string>().find("song3.wav"), std::string::npos);

  // A store made by one model refuses another's embeddings.
  std::filesystem::create_directories(dir_ / "other");
  ModelFile other = read_model_file(model_);
  for (auto& [name, t] : other.weights)
    if (name == "fc.bias") t = t + 1;
  save_model_file(dir_ / "other/model.safetensors", other);
  r = test::run(exe + " embed --model " + (dir_ / "other/model.safetensors").string() + " --out " + (dir_ / "lib").string() +
                " " + (dir_ / "music/song1.wav").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("made by another model"), std::string::npos) << r.output;
  // The same weights with other metadata (a calibration) are the same model.
  ModelFile calibrated = read_model_file(model_);
  calibrated.calibration = {.temperature = 1.5, .energy_threshold = -3, .energy_tpr = 0.95, .clips = 4, .subset = "valid"};
  save_model_file(dir_ / "other/calibrated.safetensors", calibrated);
  r = test::run(exe + " embed --model " + (dir_ / "other/calibrated.safetensors").string() + " --out " +
                (dir_ / "lib").string() + " " + (dir_ / "music/song1.wav").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("embedded 0 files (1 already there"), std::string::npos) << r.output;
  // A .npy name instead of a folder.
  r = test::run(exe + " embed --model " + model_.string() + " --out " + (dir_ / "one.npy").string() + " " +
                (dir_ / "music/song1.wav").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "one.jsonl"));
  EXPECT_EQ(read_npy(dir_ / "one.npy").shape, (std::vector<int64_t>{1, 512}));
}

}  // namespace
}  // namespace genrenet
