// Data, SpecAugment, training, evaluation and prediction, on small synthetic data.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <numeric>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/train.h>

#include "common/option_tables.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"
#include "test_util.h"
#include "train/frozen_trunk.h"

namespace genrenet {
namespace {

Spectrogram ramp(int mels, int frames) {
  Spectrogram s{mels, frames, std::vector<float>(static_cast<size_t>(mels) * frames)};
  for (int m = 0; m < mels; ++m)
    for (int t = 0; t < frames; ++t) s.data[static_cast<size_t>(m) * frames + t] = static_cast<float>(t + 1);
  return s;
}

TEST(SpecAugment, MasksHaveTheirWidthsAndValue) {
  SpecAugmentOptions o;
  o.time_warp = 0;
  o.freq_masks = 2;
  o.time_masks = 2;
  for (unsigned seed = 0; seed < 50; ++seed) {
    Spectrogram s = ramp(128, 1024);
    std::mt19937 rng(seed);
    auto r = spec_augment(s, o, rng);
    ASSERT_EQ(s.n_mels, 128);
    ASSERT_EQ(s.n_frames, 1024);
    ASSERT_EQ(r.freq_masks.size(), 2u);
    for (auto& m : r.freq_masks) {
      EXPECT_LE(m.width, 48);
      EXPECT_LE(m.start + m.width, 128);
      for (int f = m.start; f < m.start + m.width; ++f) EXPECT_EQ(s.at(f, 500), 0.f);
    }
    for (auto& m : r.time_masks) {
      EXPECT_LE(m.width, 192);
      EXPECT_LE(m.start + m.width, 1024);
      for (int t = m.start; t < m.start + m.width; ++t) EXPECT_EQ(s.at(0, t), 0.f);
    }
    // Outside the masks nothing changed.
    std::set<int> masked_f, masked_t;
    for (auto& m : r.freq_masks) for (int f = m.start; f < m.start + m.width; ++f) masked_f.insert(f);
    for (auto& m : r.time_masks) for (int t = m.start; t < m.start + m.width; ++t) masked_t.insert(t);
    for (int f = 0; f < 128; f += 7)
      for (int t = 0; t < 1024; t += 13)
        if (!masked_f.count(f) && !masked_t.count(t)) ASSERT_EQ(s.at(f, t), float(t + 1));
  }
}

TEST(SpecAugment, WarpingKeepsTheOrderOfTime) {
  SpecAugmentOptions o;
  o.freq_masks = o.time_masks = 0;
  o.time_warp = 80;
  int moved = 0;
  for (unsigned seed = 0; seed < 30; ++seed) {
    Spectrogram s = ramp(4, 1024);
    std::mt19937 rng(seed);
    auto r = spec_augment(s, o, rng);
    EXPECT_GE(r.warp_from, 80);
    EXPECT_LE(std::abs(r.warp_to - r.warp_from), 80);
    moved += r.warp_to != r.warp_from;
    for (int t = 1; t < 1024; ++t) ASSERT_GE(s.at(0, t), s.at(0, t - 1)) << "seed " << seed << " frame " << t;
    EXPECT_FLOAT_EQ(s.at(0, 0), 1.f);
    EXPECT_FLOAT_EQ(s.at(0, 1023), 1024.f);
    if (r.warp_to != r.warp_from) EXPECT_NEAR(s.at(0, r.warp_to), r.warp_from + 1, 1e-3);
  }
  EXPECT_GT(moved, 20);
}

TEST(SpecAugment, DeterministicUnderASeedAndFreshOtherwise) {
  SpecAugmentOptions o;
  Spectrogram a = ramp(128, 512), b = a, c = a;
  std::mt19937 r1(7), r2(7), r3(8);
  spec_augment(a, o, r1);
  spec_augment(b, o, r2);
  spec_augment(c, o, r3);
  EXPECT_EQ(a.data, b.data);
  EXPECT_NE(a.data, c.data);
  SpecAugmentOptions bad;
  bad.freq_masks = -1;
  EXPECT_THROW(bad.validate(), Error);
}

void tiny_tree(const std::filesystem::path& root, const std::vector<std::string>& classes, int per_class,
               const std::string& ext = ".wav") {
  for (size_t k = 0; k < classes.size(); ++k)
    for (int i = 0; i < per_class; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "%s.%05d%s", classes[k].c_str(), i, ext.c_str());
      write_wav(root / classes[k] / name, test::sine(220 + 50 * i + 500 * k, 0.3, 8000), 8000);
    }
}

TEST(Dataset, FindsTheCommonGtzanLayouts) {
  test::TempDir dir;
  tiny_tree(dir / "a" / "genres", {"rock", "blues"}, 2, ".au");
  tiny_tree(dir / "b" / "Data" / "genres_original", {"jazz", "pop", "metal"}, 1);
  tiny_tree(dir / "c", {"x", "y"}, 3);
  Dataset a = scan_dataset(dir / "a");
  EXPECT_EQ(a.classes, (std::vector<std::string>{"blues", "rock"}));
  EXPECT_EQ(a.clips.size(), 4u);
  EXPECT_EQ(a.clips[0].id, "blues/blues.00000");
  EXPECT_EQ(a.clips[0].label, 0);
  EXPECT_EQ(scan_dataset(dir / "b").classes, (std::vector<std::string>{"jazz", "metal", "pop"}));
  EXPECT_EQ(scan_dataset(dir / "c").clips.size(), 6u);
  std::filesystem::create_directories(dir / "empty" / "class");
  EXPECT_THROW(scan_dataset(dir / "empty"), Error);
  // One empty class folder among others is an error naming it, not a model of one class fewer.
  tiny_tree(dir / "d", {"x", "y"}, 1);
  std::filesystem::create_directories(dir / "d" / "z");
  try {
    scan_dataset(dir / "d");
    ADD_FAILURE() << "an empty class folder was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), (dir / "d" / "z").string());
    EXPECT_NE(std::string(e.what()).find("without audio files"), std::string::npos) << e.what();
  }
  try {
    scan_dataset(dir / "missing");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such dataset folder"), std::string::npos);
  }
}

Dataset fake_dataset(int classes, int per_class) {
  Dataset d;
  for (int c = 0; c < classes; ++c) {
    d.classes.push_back("g" + std::to_string(c));
    for (int i = 0; i < per_class; ++i) {
      char stem[32];
      std::snprintf(stem, sizeof stem, "g%d.%05d", c, i);
      d.clips.push_back({"/nowhere", c, d.classes.back() + "/" + stem});
    }
  }
  return d;
}

TEST(Splits, PaperIsStratified80_10_10AndSeeded) {
  Dataset d = fake_dataset(10, 100);
  Split s = make_split(d, "paper", 1);
  EXPECT_EQ(s.train.size(), 800u);
  EXPECT_EQ(s.valid.size(), 100u);
  EXPECT_EQ(s.test.size(), 100u);
  std::map<std::string, int> per_class;
  for (auto& id : s.test) ++per_class[id.substr(0, id.find('/'))];
  for (auto& [c, n] : per_class) EXPECT_EQ(n, 10) << c;
  EXPECT_EQ(make_split(d, "paper", 1).test, s.test);
  EXPECT_NE(make_split(d, "paper", 2).test, s.test);
  Split back = Split::from_json(s.to_json());
  EXPECT_EQ(back.train, s.train);
}

TEST(Splits, KFoldTestFoldsCoverEveryClipOnce) {
  Dataset d = fake_dataset(4, 10);
  std::multiset<std::string> tested;
  for (int f = 0; f < 5; ++f) {
    Split s = make_split(d, "kfold:5", 3, {}, f);
    EXPECT_EQ(s.test.size(), 8u);   // 2 of each class's 10
    EXPECT_EQ(s.valid.size(), 4u);  // a tenth of the other 8, at least 1
    EXPECT_EQ(s.train.size(), 28u);
    tested.insert(s.test.begin(), s.test.end());
  }
  EXPECT_EQ(tested.size(), 40u);
  EXPECT_EQ(std::set<std::string>(tested.begin(), tested.end()).size(), 40u);
  EXPECT_THROW(make_split(d, "kfold:1", 1), Error);
  EXPECT_THROW(make_split(d, "kfold:5", 1, {}, 5), Error);
  EXPECT_THROW(make_split(d, "random", 1), Error);
}

TEST(Splits, SturmListsAndMissingEntries) {
  test::TempDir dir;
  Dataset d = fake_dataset(2, 5);
  test::write_bytes(dir / "train_filtered.txt", "g0/g0.00000.wav\ng0/g0.00001.wav\ng1/g1.00000.wav\ng9/g9.00054.wav\n");
  test::write_bytes(dir / "valid_filtered.txt", "g0/g0.00002.wav\n");
  test::write_bytes(dir / "test_filtered.txt", "g1/g1.00003.au\n");
  Split s = make_split(d, "sturm", 1, dir.path());
  EXPECT_EQ(s.train, (std::vector<std::string>{"g0/g0.00000", "g0/g0.00001", "g1/g1.00000"}));
  EXPECT_EQ(s.test, (std::vector<std::string>{"g1/g1.00003"}));
  EXPECT_EQ(s.not_found, (std::vector<std::string>{"g9/g9.00054.wav"}));
  Split l = make_split(d, "lists:" + (dir / "train_filtered.txt").string() + "," + (dir / "valid_filtered.txt").string() +
                              "," + (dir / "test_filtered.txt").string(), 1);
  EXPECT_EQ(l.train, s.train);
  EXPECT_THROW(make_split(d, "sturm", 1), Error);
}

TEST(FeatureCache, ComputesOnceRecomputesOnChangeAndRepairsDamage) {
  test::TempDir dir;
  tiny_tree(dir / "data", {"a", "b"}, 2);
  write_wav(dir / "data" / "a" / "silence.wav", std::vector<float>(4000, 0.f), 8000);
  test::write_bytes(dir / "data" / "b" / "broken.wav", "not audio");
  Dataset d = scan_dataset(dir / "data");
  std::vector<std::filesystem::path> files;
  for (auto& c : d.clips) files.push_back(c.path);
  FeatureOptions o;
  FeatureCache cache(dir / "cache", o);
  auto r1 = cache.load(files, 2);
  EXPECT_EQ(r1.computed, 5);
  EXPECT_EQ(r1.failed, 1);
  auto r2 = cache.load(files, 2);
  EXPECT_EQ(r2.computed, 0);
  EXPECT_EQ(r2.reused, 5);
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(r1.spectrograms[i].data, r2.spectrograms[i].data);
  // A changed file is a new key; a damaged entry is rebuilt.
  write_wav(d.clips[0].path, test::sine(999, 0.3, 8000), 8000);
  test::write_bytes(cache.dir() / (sha256_file(d.clips[1].path) + ".npy"), "garbage");
  // A well-formed entry full of NaN is damaged too (a log-mel in dB is always finite).
  write_npy(cache.dir() / (sha256_file(d.clips[2].path) + ".npy"),
            std::vector<float>(128 * 10, std::numeric_limits<float>::quiet_NaN()), {128, 10});
  auto r3 = cache.load(files, 2);
  EXPECT_EQ(r3.computed, 3);
  for (auto& s : r3.spectrograms)
    for (float v : s.data) ASSERT_TRUE(std::isfinite(v));
  // Options that do not shape the log-mel share the cache; others do not.
  o.frames = 77;
  EXPECT_EQ(FeatureCache(dir / "cache", o).dir(), cache.dir());
  o.n_mels = 64;
  EXPECT_NE(FeatureCache(dir / "cache", o).dir(), cache.dir());
}

// The temporary file of a writer killed mid-write is removed when the cache is next opened: once its process
// is gone and it is an hour old (a live writer elsewhere on a shared cache is never disturbed).
TEST(FeatureCache, LeftoversOfKilledWritesAreSwept) {
  test::TempDir dir;
  const FeatureOptions o;
  const auto folder = FeatureCache(dir / "cache", o).dir();
  const auto old_leftover = folder / "ab12.npy.tmp.999999999.0";      // no such process; two hours old
  const auto fresh_leftover = folder / "cd34.npy.tmp.999999999.1";    // no such process, but just written
  const auto live_writer = folder / ("ef56.npy.tmp." + std::to_string(::getpid()) + ".2");  // this process
  for (const auto& p : {old_leftover, fresh_leftover, live_writer}) test::write_bytes(p, "half a .npy");
  const auto two_hours_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(2);
  std::filesystem::last_write_time(old_leftover, two_hours_ago);
  std::filesystem::last_write_time(live_writer, two_hours_ago);
  FeatureCache reopened(dir / "cache", o);
  EXPECT_FALSE(std::filesystem::exists(old_leftover));
  EXPECT_TRUE(std::filesystem::exists(fresh_leftover));
  EXPECT_TRUE(std::filesystem::exists(live_writer));
  EXPECT_TRUE(std::filesystem::exists(folder / "options.json"));
}

TEST(Synth, TenGenresDeterministicAndInRange) {
  ASSERT_EQ(synthetic_genres().size(), 10u);
  EXPECT_EQ(synthetic_genres()[5], "jazz");
  for (int g = 0; g < 10; ++g) {
    auto a = synthesize_genre_clip(g, 1.0, 16000, 3);
    EXPECT_EQ(a, synthesize_genre_clip(g, 1.0, 16000, 3));
    EXPECT_NE(a, synthesize_genre_clip(g, 1.0, 16000, 4));
    float peak = 0;
    for (float v : a) {
      ASSERT_TRUE(std::isfinite(v));
      peak = std::max(peak, std::fabs(v));
    }
    EXPECT_GT(peak, 0.4f);
    EXPECT_LE(peak, 1.0f);
  }
  EXPECT_THROW(synthesize_genre_clip(10, 1.0, 16000, 1), Error);
}

TEST(Metrics, PrecisionRecallF1AndConfusion) {
  Evaluation e = evaluate_predictions({0, 0, 1, 1, 2, 2}, {0, 1, 1, 1, 2, 0}, {"a", "b", "c"});
  EXPECT_NEAR(e.accuracy, 4.0 / 6, 1e-12);
  EXPECT_EQ(e.confusion[0], (std::vector<int>{1, 1, 0}));
  EXPECT_NEAR(e.per_class[1].precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(e.per_class[1].recall, 1.0, 1e-12);
  EXPECT_NEAR(e.per_class[0].f1, 0.5, 1e-12);
  EXPECT_THROW(evaluate_predictions({0}, {3}, {"a", "b"}), Error);
}

// A short real training run: ten synthetic genres, small inputs, two epochs.
class Training : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    write_synthetic_dataset(dir_->path() / "data", 8, 2.0, 5, 16000);
  }
  static void TearDownTestSuite() { delete dir_; }
  TrainConfig config(const std::string& run, int epochs) {
    TrainConfig c;
    c.data = (dir_->path() / "data").string();
    c.out = (dir_->path() / run).string();
    c.cache = (dir_->path() / "cache").string();
    c.epochs = epochs;
    c.batch = 8;
    c.lr = 1e-3;
    c.specaugment = true;
    c.augment.time_mask_width = 8;
    c.augment.time_warp = 4;
    c.features.frames = 64;
    c.features.n_mels = 64;
    c.precision = "fp32";
    c.threads = 1;  // bit-for-bit repeatable, for the resume check
    return c;
  }
  static test::TempDir* dir_;
};
test::TempDir* Training::dir_ = nullptr;

TEST_F(Training, WritesTheRunAndResumesExactly) {
  TrainResult full = train(config("full", 3));
  ASSERT_EQ(full.history.size(), 3u);
  const auto run = dir_->path() / "full";
  for (const char* f : {"config.json", "split.json", "metrics.csv", "curves.png", "best.safetensors", "last.safetensors",
                        "last.json", "last.optimizer.pt"})
    EXPECT_TRUE(std::filesystem::exists(run / f)) << f;
  // The best model is the last epoch's own file where that epoch was the best, a file of its own otherwise.
  EXPECT_EQ(std::filesystem::equivalent(run / "best.safetensors", run / "last.safetensors"), full.best_epoch == 3);
  std::ifstream csv(run / "metrics.csv");
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 4);

  // Two epochs, then a resume to three, ends with the same weights as three in one go.
  train(config("split", 2));
  const std::atomic<bool> stop{true};  // an interrupted resume keeps the last checkpoint intact
  TrainResult stopped = train(config("split", 3), RunControl{.resume = true, .stop = &stop});
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(read_model_file(dir_->path() / "split" / "last.safetensors").training_json.find("\"epoch\":2") != std::string::npos, true);
  TrainResult resumed = train(config("split", 3), /*resume=*/true);
  ASSERT_EQ(resumed.history.size(), 3u);
  TensorMap a = read_model_file(run / "last.safetensors").weights;
  TensorMap b = read_model_file(dir_->path() / "split" / "last.safetensors").weights;
  for (auto& [k, t] : a) EXPECT_TRUE(torch::equal(t, b.at(k))) << k;
  EXPECT_DOUBLE_EQ(full.history[2].val_loss, resumed.history[2].val_loss);

  Evaluation e = evaluate_run(run, "test");
  EXPECT_EQ(e.count, 10);  // one of each genre's eight clips
  EXPECT_EQ(e.model, "best");  // the run's test_model
  EXPECT_EQ(e.epoch, full.best_epoch);
  Evaluation last = evaluate_run(run, "test", "last");
  EXPECT_EQ(last.model, "last");
  EXPECT_EQ(last.epoch, 3);
  EXPECT_TRUE(std::filesystem::exists(run / "eval-test.json"));
  EXPECT_TRUE(std::filesystem::exists(run / "confusion-test.png"));

  ModelFile mf = read_model_file(run / "best.safetensors");
  EXPECT_EQ(mf.classes, synthetic_genres());
  Classifier clf(run / "best.safetensors");
  Classification c = clf.classify_file(dir_->path() / "data" / "jazz" / "jazz.00000.wav");
  EXPECT_NEAR(std::accumulate(c.probabilities.begin(), c.probabilities.end(), 0.0), 1.0, 1e-4);
  EXPECT_EQ(c.ranked.size(), synthetic_genres().size());
}

// An improving epoch's best model is its last one: staged as a second name of that file (one write of 45 MB
// instead of two), which the next epoch's checkpoint replaces by name and so leaves the best one alone; where
// the file system refuses hard links, written as its own file.
TEST(RunFolder, ASecondNameOfTheSameBytesIsAHardLinkThatLaterCheckpointsLeaveAlone) {
  test::TempDir dir;
  const io::RunFolder run(dir.path());
  const auto bytes = [](std::string text) {
    return [text](const std::filesystem::path& p) { io::write_file_atomically(p, text); };
  };
  run.commit({{"last.safetensors", bytes("epoch 1")}, {"best.safetensors", bytes("epoch 1"), "last.safetensors"}});
  EXPECT_EQ(test::read_bytes(run.best_model()), "epoch 1");
  EXPECT_TRUE(std::filesystem::equivalent(run.best_model(), run.last_model()));
  EXPECT_EQ(std::filesystem::hard_link_count(run.best_model()), 2u);

  run.commit({{"last.safetensors", bytes("epoch 2")}});
  EXPECT_EQ(test::read_bytes(run.last_model()), "epoch 2");
  EXPECT_EQ(test::read_bytes(run.best_model()), "epoch 1");
  EXPECT_EQ(std::filesystem::hard_link_count(run.best_model()), 1u);

  ::setenv("GENRENET_TEST_NO_HARD_LINKS", "1", 1);
  run.commit({{"last.safetensors", bytes("epoch 3")}, {"best.safetensors", bytes("epoch 3"), "last.safetensors"}});
  ::unsetenv("GENRENET_TEST_NO_HARD_LINKS");
  EXPECT_EQ(test::read_bytes(run.best_model()), "epoch 3");
  EXPECT_FALSE(std::filesystem::equivalent(run.best_model(), run.last_model()));
}

// The frozen trunk (issue 27): with an fp32 trunk training computes exactly what it computes without one;
// a trunk in another precision is a recorded choice that a resumed run keeps, and a trunk of every stage
// leaves its int8 calibration in the model file.
TEST_F(Training, AnFp32FrozenTrunkTrainsExactlyAsTheTrainingNetwork) {
  TrainConfig off = config("trunk-off", 2), fp32 = config("trunk-fp32", 2);
  for (TrainConfig* c : {&off, &fp32}) c->freeze.children = 8;
  off.trunk_precision = "off";
  fp32.trunk_precision = "fp32";
  const TrainResult a = train(off), b = train(fp32);
  ASSERT_EQ(a.history.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(a.history[e].train_loss, b.history[e].train_loss);
    EXPECT_EQ(a.history[e].val_loss, b.history[e].val_loss);
  }
  for (const char* file : {"best.safetensors", "last.safetensors"}) {
    const TensorMap x = read_model_file(dir_->path() / "trunk-off" / file).weights;
    const TensorMap y = read_model_file(dir_->path() / "trunk-fp32" / file).weights;
    ASSERT_EQ(x.size(), y.size());
    for (auto& [k, t] : x) EXPECT_TRUE(torch::equal(t, y.at(k))) << file << ": " << k;
  }
  EXPECT_TRUE(read_model_file(dir_->path() / "trunk-fp32" / "last.safetensors").int8.empty());
}

// A batch's inputs (crops, standardisation, SpecAugment) depend on each clip's seed alone: prepared on a thread
// of their own while the step before trains (a GPU's default) or in turn with the clips spread over the threads
// (the CPU's), training computes the same weights.
TEST_F(Training, BatchesPreparedAheadOrInTurnTrainTheSameWeights) {
  std::vector<TensorMap> weights;
  for (const char* ahead : {"1", "0"}) {
    ::setenv("GENRENET_PREPARE_AHEAD", ahead, 1);
    TrainConfig c = config(std::string("prepare-ahead-") + ahead, 1);
    c.freeze.children = 8;
    c.trunk_precision = "fp32";
    c.threads = 2;  // in turn, the batch's clips are spread over two threads
    train(c);
    weights.push_back(read_model_file(std::filesystem::path(c.out) / "last.safetensors").weights);
  }
  ::unsetenv("GENRENET_PREPARE_AHEAD");
  ASSERT_EQ(weights[0].size(), weights[1].size());
  for (auto& [k, t] : weights[0]) EXPECT_TRUE(torch::equal(t, weights[1].at(k))) << k;
}

TEST_F(Training, AnInt8FrozenTrunkIsRecordedResumedAndCalibratesTheModel) {
  TrainConfig c = config("trunk-int8", 2);
  c.freeze.children = 8;
  c.trunk_precision = "int8";
  const TrainResult full = train(c);
  TrainConfig first = config("trunk-int8-split", 1);
  first.freeze.children = 8;
  first.trunk_precision = "int8";
  train(first);
  const auto split = dir_->path() / "trunk-int8-split";
  const auto state = nlohmann::json::parse(test::read_bytes(split / "last.json"));
  EXPECT_EQ(state.at("trunk_precision"), "int8");
  // Resumed with "auto" given: the recorded int8 is kept, so the resumed run computes the uninterrupted one.
  TrainConfig resume = config("trunk-int8-split", 2);
  resume.freeze.children = 8;
  const TrainResult resumed = train(resume, /*resume=*/true);
  ASSERT_EQ(resumed.history.size(), 2u);
  EXPECT_EQ(full.history[1].val_loss, resumed.history[1].val_loss);
  const ModelFile a = read_model_file(dir_->path() / "trunk-int8" / "last.safetensors");
  const ModelFile b = read_model_file(split / "last.safetensors");
  for (auto& [k, t] : a.weights) EXPECT_TRUE(torch::equal(t, b.weights.at(k))) << k;
  // Every convolution was frozen: the calibration made for the trunk holds for the model, which predicts in int8.
  ASSERT_FALSE(a.int8.empty());
  EXPECT_TRUE(a.int8.ranges.count("layer4.1"));
  Classifier clf(dir_->path() / "trunk-int8" / "last.safetensors", ClassifierOptions{.threads = 1, .precision = "int8"});
  const Classification r = clf.classify_file(dir_->path() / "data" / "jazz" / "jazz.00000.wav");
  EXPECT_NEAR(std::accumulate(r.probabilities.begin(), r.probabilities.end(), 0.0), 1.0, 1e-4);
}

TEST_F(Training, APartlyFrozenNetworkTrainsItsLaterStagesBehindATrunk) {
  TrainConfig c = config("trunk-partial", 1);
  c.freeze.children = 6;  // conv1 .. layer2: layer3, layer4 and fc train
  c.trunk_precision = "fp32-cl";
  const TrainResult r = train(c);
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_TRUE(std::isfinite(r.history[0].train_loss));
  const ModelFile mf = read_model_file(dir_->path() / "trunk-partial" / "last.safetensors");
  EXPECT_TRUE(mf.int8.empty());  // later stages changed: a calibration of them would be stale
  const auto state = nlohmann::json::parse(test::read_bytes(dir_->path() / "trunk-partial" / "last.json"));
  EXPECT_EQ(state.at("trunk_precision"), "fp32-cl");
}

TEST(FrozenTrunk, StagesAreTheFrozenPrefixFromTheStem) {
  ModelOptions mo;
  mo.num_classes = 4;
  auto stages = [&](FreezeOptions f) {
    ResNet m = make_model(mo);
    freeze(m, f);
    return frozen_trunk_stages(m, f);
  };
  EXPECT_EQ(stages({}), -1);
  EXPECT_EQ(stages({.children = 1}), -1);  // conv1 without bn1
  EXPECT_EQ(stages({.children = 2}), 0);
  EXPECT_EQ(stages({.children = 4}), 0);
  EXPECT_EQ(stages({.children = 5}), 1);
  EXPECT_EQ(stages({.children = 8}), 4);
  EXPECT_EQ(stages({.children = 8, .frozen_bn_train = true}), -1);  // running statistics change
  EXPECT_EQ(stages({.regex = "layer1\\..*"}), -1);                  // the stem learns
  EXPECT_EQ(stages({.regex = "(conv1|bn1|layer1|layer3)\\..*"}), 1);  // layer2 learns: the trunk ends before it
}

TEST(FrozenTrunk, EachPrecisionComputesTheTrainingNetworksActivations) {
  torch::manual_seed(5);
  ModelOptions mo;
  mo.num_classes = 4;
  ResNet m = make_model(mo);
  const FreezeOptions f{.children = 8};
  freeze(m, f);
  set_training_mode(m, true, f);
  // Batch norms with statistics of their own, so that folding them is tested.
  {
    torch::NoGradGuard ng;
    for (auto& item : m->named_buffers())
      if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
      else if (item.key().find("running_mean") != std::string::npos) item.value().uniform_(-0.2, 0.2);
  }
  // Three channels that repeat one spectrogram, as genrenet's inputs do: the inference network also takes it once.
  const torch::Tensor mono = torch::randn({4, 1, 64, 96}), x = mono.repeat({1, 3, 1, 1});
  torch::Tensor expected;
  {
    torch::NoGradGuard ng;
    expected = m->features(x);
  }
  const torch::Tensor exact = FrozenTrunk(m, 4, Precision::Fp32, torch::kCPU).forward(x);
  EXPECT_TRUE(torch::equal(exact, expected));
  EXPECT_FALSE(exact.requires_grad());
  auto relative = [&](const torch::Tensor& y) { return ((y - expected).norm() / expected.norm()).item<double>(); };
  const FrozenTrunk folded(m, 4, Precision::Fp32ChannelsLast, torch::kCPU);
  EXPECT_LT(relative(folded.forward(x)), 1e-5);
  EXPECT_LT(relative(folded.forward(mono)), 1e-5);
  EXPECT_LT(relative(FrozenTrunk(m, 4, Precision::Bf16, torch::kCPU).forward(mono)), 5e-2);
  const FrozenTrunk int8(m, 4, Precision::Int8, torch::kCPU, mono);
  EXPECT_LT(relative(int8.forward(mono)), 0.15);
  EXPECT_LT(((int8.forward(x) - int8.forward(mono)).norm() / expected.norm()).item<double>(), 0.05);
  EXPECT_THROW(FrozenTrunk(m, 4, Precision::Int8, torch::kCPU), Error);  // no calibration clips
  // A shorter trunk, and the rest of the network behind it: the whole network's logits.
  const FrozenTrunk two(m, 2, Precision::Fp32, torch::kCPU);
  m->eval();
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(two.rest(two.forward(x)), m->forward(x)));
}

// After training, the temperature and the out-of-distribution threshold are fitted on the validation clips
// and written into both model files; evaluate judges the calibrated probabilities and reports both.
TEST_F(Training, CalibratedOnTheValidationClipsAndJudgedByEvaluate) {
  const TestedRun r = train_and_test(config("calibrated", 2));
  const auto run = dir_->path() / "calibrated";
  ASSERT_TRUE(r.calibration);
  const Split split = Split::from_json(test::read_bytes(run / "split.json"));
  for (auto [file, c] : {std::pair{"best.safetensors", r.calibration->best}, {"last.safetensors", r.calibration->last}}) {
    EXPECT_EQ(c.clips, static_cast<int>(split.valid.size())) << file;
    EXPECT_EQ(c.subset, "valid");
    EXPECT_GT(c.temperature, 0.05);
    EXPECT_LT(c.temperature, 20);
    EXPECT_LE(c.nll_after, c.nll_before + 1e-9) << file;  // the fit minimises it, and 1 was a candidate
    EXPECT_EQ(c.energy_tpr, 0.95);
    const ConfidenceCalibration stored = read_model_file(run / file).calibration;
    EXPECT_EQ(stored.temperature, c.temperature) << file;
    EXPECT_EQ(stored.energy_threshold, c.energy_threshold) << file;
  }
  ASSERT_TRUE(r.test);
  EXPECT_EQ(r.test->temperature, r.calibration->best.temperature);
  EXPECT_TRUE(std::filesystem::exists(run / "reliability-test.png"));
  const Evaluation raw = evaluate_run(run, "test", "", "", /*calibrated=*/false);
  EXPECT_EQ(raw.temperature, 1);
  EXPECT_NEAR(raw.calibrated.nll, r.test->uncalibrated.nll, 1e-6);
  EXPECT_NEAR(raw.calibrated.ece, r.test->uncalibrated.ece, 1e-6);
  const auto j = nlohmann::json::parse(r.test->to_json());
  EXPECT_EQ(j["calibration"]["temperature"], r.test->temperature);
  EXPECT_TRUE(j["calibration"]["calibrated"].contains("ece"));

  // Refitting (genrenet calibrate) is deterministic; evaluate prints both sides.
  const std::string exe = GENRENET_EXE;
  auto out = test::run(exe + " calibrate " + run.string());
  ASSERT_EQ(out.status, 0) << out.output;
  EXPECT_EQ(read_model_file(run / "best.safetensors").calibration.temperature, r.calibration->best.temperature);
  EXPECT_NE(out.output.find("best  temperature"), std::string::npos) << out.output;
  out = test::run(exe + " evaluate --run " + run.string());
  ASSERT_EQ(out.status, 0) << out.output;
  EXPECT_NE(out.output.find("calibration: temperature"), std::string::npos) << out.output;
  out = test::run(exe + " evaluate --run " + run.string() + " --no-calibration");
  EXPECT_NE(out.output.find("calibration: none applied"), std::string::npos) << out.output;
  out = test::run(exe + " calibrate " + (dir_->path() / "no-such-run").string());
  EXPECT_EQ(out.status, 1);
  EXPECT_NE(out.output.find("no such run folder"), std::string::npos) << out.output;
}

TEST_F(Training, BadConfigurationsAreClearErrors) {
  TrainConfig c = config("bad", 1);
  c.lr = 0;
  EXPECT_THROW(train(c), Error);
  c = config("bad", 1);
  c.data = (dir_->path() / "nothing").string();
  EXPECT_THROW(train(c), Error);
  c = config("bad", 1);
  c.freeze.children = 10;  // everything, the head too
  EXPECT_THROW(train(c), Error);
  EXPECT_THROW(TrainConfig::from_json(R"({"epochz": 3})"), Error);
  c = config("bad", 1);
  c.test_model = "newest";
  EXPECT_THROW(train(c), Error);
  EXPECT_EQ(TrainConfig::from_json(R"({"test_model": "last"})").test_model, "last");
  EXPECT_EQ(TrainConfig::from_json(TrainConfig{}.to_json()).test_model, "best");
  EXPECT_THROW(train(config("never-ran", 1), /*resume=*/true), Error);
  // TOML configs: the same keys, tables for the nested groups; errors name the file and the line.
  test::TempDir tmp;
  test::write_bytes(tmp / "run.toml", "data = \"d\"\nepochs = 7\nlr = 2e-4\nspecaugment = true\n[model]\narch = \"resnet50\"\n"
                                     "[freeze]\nchildren = 8\n[augment]\ntime_mask_width = 100\n[features]\nn_mels = 96\n");
  TrainConfig t = TrainConfig::from_file(tmp / "run.toml");
  EXPECT_EQ(t.epochs, 7);
  EXPECT_DOUBLE_EQ(t.lr, 2e-4);
  EXPECT_EQ(t.model.arch, "resnet50");
  EXPECT_EQ(t.freeze.children, 8);
  EXPECT_EQ(t.augment.time_mask_width, 100);
  EXPECT_EQ(t.features.n_mels, 96);
  test::write_bytes(tmp / "bad.toml", "epochs = = 3\n");
  try {
    TrainConfig::from_file(tmp / "bad.toml");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.toml: line 1"), std::string::npos) << e.what();
  }
  test::write_bytes(tmp / "typo.toml", "epochz = 3\n");
  EXPECT_THROW(TrainConfig::from_file(tmp / "typo.toml"), Error);
  TrainConfig round = TrainConfig::from_json(config("x", 2).to_json());
  EXPECT_EQ(round.features, config("x", 2).features);
  EXPECT_EQ(round.augment, config("x", 2).augment);
}

TEST_F(Training, AStopRequestedBeforeTheFirstEpochLeavesNoCheckpoint) {
  const std::atomic<bool> stop{true};
  TrainResult r = train(config("stopped-early", 2), RunControl{.stop = &stop});
  EXPECT_TRUE(r.interrupted);
  EXPECT_TRUE(r.history.empty());
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "stopped-early" / "last.json"));
}

TEST(Splits, SubsetsByNameAndTheClipsTheyName) {
  test::TempDir dir;
  write_synthetic_dataset(dir / "data", 2, 1.0, 1, 16000);
  const Dataset data = scan_dataset(dir / "data");
  Split s;
  s.train = {"jazz/jazz.00000", "nowhere/x.00001", "rock/rock.00001"};
  s.test = {"pop/pop.00000"};
  EXPECT_EQ(&s.subset("train"), &s.train);
  EXPECT_EQ(&s.subset("test"), &s.test);
  EXPECT_TRUE(s.subset("valid").empty());
  EXPECT_THROW(s.subset("validation"), Error);
  const SplitClips c = find_clips(data, s.train);
  ASSERT_EQ(c.clips.size(), 2u);
  EXPECT_EQ(c.clips[0].id, "jazz/jazz.00000");
  EXPECT_EQ(c.clips[1].id, "rock/rock.00001");
  EXPECT_EQ(c.clips[1].label, 9);  // classes are sorted: rock is the last of the ten
  EXPECT_EQ(c.missing, std::vector<std::string>{"nowhere/x.00001"});
}

TEST(Runs, AKFoldConfigIsOneRunPerFoldInItsOwnFolder) {
  TrainConfig c;
  c.out = "runs/cv";
  EXPECT_EQ(fold_runs(c).size(), 1u);
  EXPECT_EQ(fold_runs(c)[0].out, "runs/cv");
  c.split = "kfold:3";
  const auto runs = fold_runs(c);
  ASSERT_EQ(runs.size(), 3u);
  for (int f = 0; f < 3; ++f) {
    EXPECT_EQ(runs[f].fold, f);
    EXPECT_EQ(std::filesystem::path(runs[f].out), std::filesystem::path("runs/cv") / ("fold-" + std::to_string(f)));
    EXPECT_EQ(runs[f].split, "kfold:3");
  }
}

// Each option is one row of a table; validation, JSON in and out, TOML and the flags come from it.
TEST(Options, EveryRowValidatesReadsAndWritesItsOption) {
  const auto& table = train_config_table();
  // Every row has a key and help; the JSON of the defaults has every key, and reads back to the same.
  TrainConfig d;
  d.data = "d";
  const nlohmann::json j = table.to_json(d);
  for (const auto& f : table.fields()) {
    EXPECT_FALSE(f.help.empty() && f.key != "features.version") << f.key;
    EXPECT_FALSE(j[nlohmann::json::json_pointer("/" + std::regex_replace(f.key, std::regex("\\."), "/"))].is_null() &&
                 f.key != "features.top_db")
        << f.key;
  }
  EXPECT_EQ(TrainConfig::from_json(d.to_json()).to_json(), d.to_json());
  EXPECT_NO_THROW(d.validate());
  // Out of range, named with the key and the rule; the same rule read from the table's text.
  auto rejects = [](const std::string& json, const std::string& message) {
    try {
      TrainConfig::from_json(json).validate();
      ADD_FAILURE() << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  rejects(R"({"data": "d", "batch": 0})", "training option batch: must be in [1, 4096], got 0");
  rejects(R"({"data": "d", "lr": 0})", "training option lr: must be in (0, 1], got 0");
  rejects(R"({"data": "d", "augment": {"freq_masks": 101}})", "training option augment.freq_masks: must be in [0, 100]");
  rejects(R"({"data": "d", "features": {"hop_length": 4096, "n_fft": 1024}})", "training option features.hop_length: must be in [1, n_fft]");
  rejects(R"({"data": "d", "model": {"arch": "vgg"}})", "training option model.arch: must be resnet18, resnet34, resnet50 or seresnet50");
  rejects(R"({"data": "d", "schedule": "step"})", "training option schedule: must be constant or cosine, got \"step\"");
  rejects(R"({"data": "d", "seed": -1})", "training option seed: must be a whole number in [0, 4294967295]");
  rejects(R"({"data": "d", "features": {"crop": "middle"}})", "training option features.crop: unknown value \"middle\"");
  // The class count comes from the dataset's folders: a config cannot set it.
  rejects(R"({"model": {"num_classes": 5}})", "training option model.num_classes: unknown option");
  rejects(R"({"augment": 3})", "training option augment: expected a JSON object");
  // The same table makes the feature options' JSON, kept byte for byte as model files store it.
  FeatureOptions fo;
  fo.top_db = 80;
  EXPECT_EQ(FeatureOptions::from_json(fo.to_json()), fo);
  EXPECT_EQ(nlohmann::json::parse(FeatureOptions{}.to_json()).size(), 19u);
  EXPECT_EQ(nlohmann::json::parse(FeatureOptions{}.to_json())["version"], 2);
  // A version-1 form (before the polyphase resampler) is read as libsoxr-resampled.
  EXPECT_EQ(FeatureOptions::from_json(R"({"version": 1})").audio.resampler, Resampler::Soxr);
  EXPECT_THROW(FeatureOptions::from_json(R"({"version": 3})"), Error);
}

TEST(Options, CommandLineValuesAreReadByTheirRows) {
  const auto& table = feature_options_table();
  FeatureOptions o;
  table.find("n_mels")->set_text(o, "64");
  table.find("top_db")->set_text(o, "0");
  table.find("mel_scale")->set_text(o, "slaney");
  table.find("quantize_16bit")->set_text(o, "");  // the switch --no-quantize
  EXPECT_EQ(o.n_mels, 64);
  EXPECT_FALSE(o.top_db.has_value());
  EXPECT_EQ(o.mel_scale, MelScale::Slaney);
  EXPECT_FALSE(o.audio.quantize_16bit);
  EXPECT_THROW(table.find("n_mels")->set_text(o, "64x"), Error);
  EXPECT_THROW(table.find("f_min")->set_text(o, "nan"), Error);
  EXPECT_THROW(table.find("crop")->set_text(o, "middle"), Error);
}

}  // namespace
}  // namespace genrenet
