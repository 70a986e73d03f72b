// A music library: embeddings (the pooled network features, windows averaged, unit length) from the C++ API
// and `genrenet embed` (a matrix, a list and the model's identity; resumable; another model refused); the
// FAISS index, `genrenet similar` and POST /v1/similar.
#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/library.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>
#include <genrenet/serve.h>

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
  // Whatever precision the classifier runs in, embeddings are float: here bf16, whose own features are a
  // percent or so away.
  ClassifierOptions bf16 = fp32();
  bf16.precision = "bf16";
  const Embedding in_bf16 = Classifier(model_, bf16).embed(x, 8000);
  for (size_t i = 0; i < 512; ++i) ASSERT_NEAR(in_bf16.values[i], expected[i], 1e-5) << i;
  // A classifier made for embeddings runs in fp32 (or fp32-cl) even when asked for bf16.
  const Classifier for_embeddings = Classifier::for_embeddings(model_, bf16);
  const std::string precision = nlohmann::json::parse(for_embeddings.describe_json())["precision"];
  EXPECT_TRUE(precision == "fp32" || precision == "fp32-cl") << precision;
  const Embedding made_for_it = for_embeddings.embed(x, 8000);
  for (size_t i = 0; i < 512; ++i) ASSERT_NEAR(made_for_it.values[i], expected[i], 1e-5) << i;

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

// A FAISS index over a store: the neighbours are the store's rows ranked by inner product (checked by hand),
// the query's own content left out; `index add` grows it; a query model other than the index's is refused.
TEST_F(Embeddings, DamagedStoresAreRefusedByNameNotAnsweredWrongly) {
  // Issue 25, item 9: a NaN row in embeddings.npy (its file's neighbours came back empty, exit 0); duplicate,
  // negative or out-of-range row numbers in embeddings.jsonl; a damaged index.json (ignored).
  const std::string exe = GENRENET_EXE;
  std::filesystem::create_directories(dir_ / "music");
  for (unsigned seed : {1u, 2u, 3u}) write_wav(dir_ / "music" / ("song" + std::to_string(seed) + ".wav"), synthesize_example_clip(3.0, 8000, seed), 8000);
  const auto index = dir_ / "index";
  auto r = test::run(exe + " index build -m " + model_.string() + " --out " + index.string() + " " + (dir_ / "music").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string matrix = test::read_bytes(index / "embeddings.npy"), list = test::read_bytes(index / "embeddings.jsonl"),
                    options = test::read_bytes(index / "index.json");
  auto similar = [&] { return test::run(exe + " similar -i " + index.string() + " " + (dir_ / "music/song1.wav").string()); };
  ASSERT_EQ(similar().status, 0);
  {  // a NaN in row 1
    NpyArray m = read_npy(index / "embeddings.npy");
    m.data[512 + 7] = std::nanf("");
    write_npy(index / "embeddings.npy", m.data, m.shape);
    r = similar();
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("row 1 is not a unit-length embedding"), std::string::npos) << r.output;
    test::write_bytes(index / "embeddings.npy", matrix);
  }
  for (const std::string& bad_row : {std::string("0"), std::string("-1"), std::string("7")}) {  // line 2's row number
    std::string edited = list;
    const size_t second = edited.find('\n') + 1;
    const size_t at = edited.find("\"row\":", second) + 6;
    edited.replace(at, edited.find(',', at) - at, bad_row);
    test::write_bytes(index / "embeddings.jsonl", edited);
    r = similar();
    EXPECT_NE(r.status, 0) << bad_row;
    EXPECT_NE(r.output.find("embeddings.jsonl: line 2"), std::string::npos) << r.output;
  }
  test::write_bytes(index / "embeddings.jsonl", list);
  for (const char* damaged : {"{\"ivf\": \"yes\"}", "not json", "{}"}) {
    test::write_bytes(index / "index.json", damaged);
    r = test::run(exe + " index add -i " + index.string() + " " + (dir_ / "music").string());
    EXPECT_NE(r.status, 0) << damaged;
    EXPECT_NE(r.output.find("index.json: damaged"), std::string::npos) << r.output;
  }
  test::write_bytes(index / "index.json", options);
  EXPECT_EQ(similar().status, 0);
}

// Issue 28's first item: an index built with other windows than the default is queried with its own windows
// by the command line, the API and the service alike (the service used the default windows: another
// embedding space, other neighbours).
TEST_F(Embeddings, AnIndexOfOtherWindowsIsQueriedWithThemEverywhere) {
  const std::string exe = GENRENET_EXE;
  const auto music = dir_ / "music-windows";
  std::filesystem::create_directories(music);
  for (unsigned seed : {1u, 2u, 3u, 4u, 5u, 6u})
    write_wav(music / ("song" + std::to_string(seed) + ".wav"), synthesize_example_clip(12.0 + seed, 8000, seed), 8000);
  const auto index = dir_ / "index-windows";
  auto r = test::run(exe + " index build -m " + model_.string() + " --window 2 --hop 1 --out " + index.string() + " " +
                     music.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const SimilarityIndex opened = SimilarityIndex::open(index);
  EXPECT_DOUBLE_EQ(opened.windows().window_seconds, 2.0);
  EXPECT_DOUBLE_EQ(opened.windows().hop_seconds, 1.0);
  // The query is outside the index, and longer than the model's input (10.2 s), so that windows matter: with
  // the default ones its embedding differs (so this test can fail).
  const auto query = dir_ / "query-windows.wav";
  write_wav(query, synthesize_example_clip(21.5, 8000, 9), 8000);
  const Classifier clf(model_, fp32());
  const Embedding own = clf.embed_file(query, opened.windows()), by_default = clf.embed_file(query);
  float largest = 0;
  for (size_t i = 0; i < own.values.size(); ++i) largest = std::max(largest, std::abs(own.values[i] - by_default.values[i]));
  ASSERT_GT(largest, 1e-3f);
  const auto api = opened.search(own.values, 4);

  r = test::run(exe + " similar -i " + index.string() + " " + query.string() + " --k 4 --format jsonl");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto cli = nlohmann::json::parse(r.output.substr(r.output.find('{')))["neighbours"];
  ServerOptions so;
  so.port = 0;
  so.log_requests = false;
  so.index = index.string();
  HttpServer server(model_, fp32(), so);
  const int port = server.bind();
  std::thread serving([&] { server.run(); });
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  auto res = client.Post("/v1/similar?k=4", test::read_bytes(query), "application/octet-stream");
  server.stop();
  serving.join();
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto served = nlohmann::json::parse(res->body)["neighbours"];
  ASSERT_EQ(api.size(), 4u);
  ASSERT_EQ(cli.size(), 4u);
  ASSERT_EQ(served.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(cli[i]["row"], api[i].row) << i;
    EXPECT_EQ(served[i]["row"], api[i].row) << i;
    EXPECT_NEAR(served[i]["similarity"].get<double>(), api[i].similarity, 1e-4) << i;
    EXPECT_NEAR(cli[i]["similarity"].get<double>(), api[i].similarity, 1e-4) << i;
  }
}

// Issue 28: the index owns its folder. One built from C++ (SimilarityIndex::add) is a folder the command line
// grows (index.json included) with the index's own windows; query and query_file carry the compatibility
// rule; a file the index holds is answered from its stored row.
TEST_F(Embeddings, AnIndexBuiltFromTheApiIsGrownByTheCommandLineAndQueriedByTheRule) {
  std::filesystem::create_directories(dir_ / "api-music");
  std::vector<std::filesystem::path> files;
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    files.push_back(dir_ / "api-music" / ("song" + std::to_string(seed) + ".wav"));
    write_wav(files.back(), synthesize_example_clip(11.0 + seed, 8000, seed), 8000);
  }
  const Classifier clf(model_, fp32());
  IndexAddOptions how;
  how.windows = WindowOptions{};
  how.windows->window_seconds = 3;
  how.windows->hop_seconds = 2;
  const auto folder = dir_ / "api-index";
  IndexAddReport added = SimilarityIndex::add(clf, folder, {files[0], files[1], files[2]}, how);
  EXPECT_EQ(added.embedded.embedded, 3);
  EXPECT_EQ(added.index.rows, 3);
  auto r = test::run(std::string(GENRENET_EXE) + " index add -i " + folder.string() + " " + files[3].string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("embedded 1 files (0 already there, 0 failed); index flat of 4"), std::string::npos) << r.output;
  const SimilarityIndex index = SimilarityIndex::open(folder);
  EXPECT_EQ(index.size(), 4);
  EXPECT_DOUBLE_EQ(index.windows().window_seconds, 3.0);
  EXPECT_DOUBLE_EQ(index.windows().hop_seconds, 2.0);
  EXPECT_FALSE(index.options().ivf);
  EXPECT_EQ(index.weights_sha256(), clf.identity().weights_sha256);
  // Adding with other windows is refused by the rule, naming the store.
  IndexAddOptions other = how;
  other.windows->hop_seconds = 1;
  try {
    SimilarityIndex::add(clf, folder, {files[3]}, other);
    ADD_FAILURE() << "other windows were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("other windows"), std::string::npos) << e.what();
  }
  // A file the index holds: its stored row's neighbours. One it does not: embedded with the index's windows.
  const auto held = index.query_file(clf, files[1], 2), like = index.search_like_row(1, 2);
  ASSERT_EQ(held.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(held[i].row, like[i].row);
  const auto outside = dir_ / "outside.wav";
  write_wav(outside, synthesize_example_clip(17.5, 8000, 11), 8000);
  const auto queried = index.query_file(clf, outside, 3);
  const auto by_hand = index.search(clf.embed_file(outside, index.windows()).values, 3);
  ASSERT_EQ(queried.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(queried[i].row, by_hand[i].row);
    EXPECT_FLOAT_EQ(queried[i].similarity, by_hand[i].similarity);
  }
  // Another model's classifier is refused by every entry point.
  ModelFile changed = read_model_file(model_);
  changed.weights.at("fc.bias") = changed.weights.at("fc.bias") + 1;
  save_model_file(dir_ / "changed.safetensors", changed);
  const Classifier stranger(dir_ / "changed.safetensors", fp32());
  EXPECT_NE(stranger.identity().weights_sha256, clf.identity().weights_sha256);
  for (const auto& attempt : std::vector<std::function<void()>>{
           [&] { index.check_compatible(stranger); }, [&] { index.query_file(stranger, outside, 1); },
           [&] { SimilarityIndex::add(stranger, folder, {outside}); }}) {
    try {
      attempt();
      ADD_FAILURE() << "another model was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
    }
  }
}

TEST_F(Embeddings, IndexAndSimilarFindTheNearestByCosine) {
  const std::string exe = GENRENET_EXE;
  std::filesystem::create_directories(dir_ / "music");
  for (unsigned seed : {1u, 2u, 3u, 4u, 5u})
    write_wav(dir_ / "music" / ("song" + std::to_string(seed) + ".wav"), synthesize_example_clip(3.0 + seed, 8000, seed), 8000);
  const std::string index = (dir_ / "index").string();
  auto r = test::run(exe + " index build -m " + model_.string() + " --out " + index + " " + (dir_ / "music/song1.wav").string() +
                     " " + (dir_ / "music/song2.wav").string() + " " + (dir_ / "music/song3.wav").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("index flat of 3 embeddings (512 values, 2048 bytes each)"), std::string::npos) << r.output;
  r = test::run(exe + " index add -i " + index + " " + (dir_ / "music").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("embedded 2 files (3 already there, 0 failed); index flat of 5"), std::string::npos) << r.output;

  // By hand: the store's rows against song2's, most similar first, song2 itself left out.
  const NpyArray m = read_npy(dir_ / "index/embeddings.npy");
  ASSERT_EQ(m.shape, (std::vector<int64_t>{5, 512}));
  const auto rows = jsonl(dir_ / "index/embeddings.jsonl");
  int self = -1;
  for (int i = 0; i < 5; ++i)
    if (rows[i]["file"].get<std::string>().find("song2.wav") != std::string::npos) self = i;
  ASSERT_GE(self, 0);
  std::vector<std::pair<double, int>> by_hand;
  for (int i = 0; i < 5; ++i) {
    if (i == self) continue;
    double dot = 0;
    for (int j = 0; j < 512; ++j) dot += static_cast<double>(m.data[i * 512 + j]) * m.data[self * 512 + j];
    by_hand.push_back({dot, i});
  }
  std::sort(by_hand.rbegin(), by_hand.rend());
  r = test::run(exe + " similar -i " + index + " " + (dir_ / "music/song2.wav").string() + " --k 3 --format jsonl");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto answer = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  ASSERT_EQ(answer["neighbours"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(answer["neighbours"][i]["row"], by_hand[i].second) << i;
    EXPECT_NEAR(answer["neighbours"][i]["similarity"].get<double>(), by_hand[i].first, 1e-4) << i;
  }
  r = test::run(exe + " similar -i " + index + " " + (dir_ / "music/song2.wav").string() + " --k 2 --format m3u");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("#EXTM3U\n#EXTINF:", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(rows[by_hand[0].second]["file"].get<std::string>()), std::string::npos) << r.output;

  // The C++ API gives the same; another model's query is refused; a folder without an index is named.
  const SimilarityIndex opened = SimilarityIndex::open(dir_ / "index");
  EXPECT_EQ(opened.size(), 5);
  const Embedding q = Classifier(model_, fp32()).embed_file(dir_ / "music/song2.wav");
  const auto found = opened.search(q.values, 1, rows[self]["sha256"].get<std::string>());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].row, by_hand[0].second);
  EXPECT_THROW(opened.search(std::vector<float>(10, 0.f), 1), Error);
  // A file already in the index, found by its name or its content, answered from its stored embedding.
  EXPECT_EQ(opened.find_row(rows[self]["file"].get<std::string>()), self);
  EXPECT_EQ(opened.find_row(rows[self]["sha256"].get<std::string>()), self);
  EXPECT_EQ(opened.find_row("not/in/the/index.wav"), -1);
  const auto like = opened.search_like_row(self, 3);
  ASSERT_EQ(like.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(like[i].row, by_hand[i].second) << i;
  EXPECT_THROW(opened.search_like_row(5, 1), Error);
  // A query the index does not hold is embedded with the model: the CLI agrees with the API.
  write_wav(dir_ / "song6.wav", synthesize_example_clip(5.5, 8000, 6), 8000);
  const auto outside = opened.search(Classifier(model_, fp32()).embed_file(dir_ / "song6.wav").values, 2);
  r = test::run(exe + " similar -i " + index + " " + (dir_ / "song6.wav").string() + " --k 2 --format jsonl");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto outside_cli = nlohmann::json::parse(r.output.substr(r.output.find('{')))["neighbours"];
  ASSERT_EQ(outside_cli.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(outside_cli[i]["row"], outside[i].row) << i;
    EXPECT_NEAR(outside_cli[i]["similarity"].get<double>(), outside[i].similarity, 1e-4) << i;
  }
  ModelFile other = read_model_file(model_);
  other.weights.at("fc.bias") = other.weights.at("fc.bias") + 1;
  std::filesystem::create_directories(dir_ / "other");
  save_model_file(dir_ / "other/model.safetensors", other);
  r = test::run(exe + " similar -i " + index + " -m " + (dir_ / "other/model.safetensors").string() + " " +
                (dir_ / "music/song2.wav").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("a query must be embedded by the same model"), std::string::npos) << r.output;
  r = test::run(exe + " similar -i " + (dir_ / "music").string() + " " + (dir_ / "music/song2.wav").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("genrenet index build"), std::string::npos) << r.output;

  // The service: POST /v1/similar answers as the API does; an index of another model is refused at start.
  ServerOptions so;
  so.port = 0;
  so.log_requests = false;
  so.index = index;
  HttpServer server(model_, fp32(), so);
  const int port = server.bind();
  std::thread serving([&] { server.run(); });
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  auto res = client.Post("/v1/similar?k=2", test::read_bytes(dir_ / "music/song2.wav"), "application/octet-stream");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto served = nlohmann::json::parse(res->body)["neighbours"];
  ASSERT_EQ(served.size(), 2u);
  EXPECT_EQ(served[0]["row"], by_hand[0].second);
  EXPECT_EQ(served[1]["row"], by_hand[1].second);
  EXPECT_EQ(nlohmann::json::parse(client.Get("/v1/model")->body)["similar"]["files"], 5);
  res = client.Post("/v1/similar?k=0", test::read_bytes(dir_ / "music/song2.wav"), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  // GET: a file already in the library, by the name the index gives it or by its row.
  const std::string name = rows[self]["file"].get<std::string>();
  for (const std::string query : {"/v1/similar?k=2&file=" + httplib::detail::encode_query_param(name),
                                  "/v1/similar?k=2&row=" + std::to_string(self)}) {
    res = client.Get(query.c_str());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << query << ": " << res->body;
    const auto got = nlohmann::json::parse(res->body);
    EXPECT_EQ(got["row"], self);
    ASSERT_EQ(got["neighbours"].size(), 2u);
    EXPECT_EQ(got["neighbours"][0]["row"], by_hand[0].second);
    EXPECT_EQ(got["neighbours"][1]["row"], by_hand[1].second);
  }
  EXPECT_EQ(client.Get("/v1/similar?file=nowhere.wav")->status, 404);
  EXPECT_EQ(client.Get("/v1/similar")->status, 400);
  EXPECT_EQ(client.Get("/v1/similar?row=5")->status, 400);
  EXPECT_EQ(client.Get("/v1/similar?row=1.5")->status, 400);
  server.stop();
  serving.join();
  so.index.clear();
  HttpServer plain(model_, fp32(), so);
  const int plain_port = plain.bind();
  std::thread plain_serving([&] { plain.run(); });
  httplib::Client plain_client("127.0.0.1", plain_port);
  res = plain_client.Post("/v1/similar", test::read_bytes(dir_ / "music/song2.wav"), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  plain.stop();
  plain_serving.join();
  so.index = index;
  EXPECT_THROW(HttpServer(dir_ / "other/model.safetensors", fp32(), so), Error);

  // IVF over enough rows reports its recall against the exact index.
  r = test::run(exe + " index build -m " + model_.string() + " --out " + (dir_ / "ivf").string() + " " +
                (dir_ / "music").string() + " --ivf --nlist 2 --nprobe 2");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("index ivf2 of 5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("recall@10 against the exact index 1.000"), std::string::npos) << r.output;  // every cell probed
}

}  // namespace
}  // namespace genrenet
