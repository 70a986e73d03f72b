// Answers people can trust: the calibration error and its reliability bins, the temperature fit (against a
// brute-force search, and on data whose true temperature is known), the energy threshold, the calibration
// in the model file, and "unknown" from the C++ API, the CLI and the HTTP service.
#include <httplib.h>

#include <cmath>
#include <numeric>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/serve.h>

#include "eval/calibration.h"
#include "small_model.h"
#include "test_util.h"

namespace genrenet {
namespace {

TEST(Calibration, ErrorAndBinsAsDefinedByGuoEtAl) {
  // Four answers over two classes: confidences 0.85 (right), 0.85 (wrong), 0.58 (right), 0.55 (wrong).
  const std::vector<float> p = {0.85f, 0.15f, 0.15f, 0.85f, 0.58f, 0.42f, 0.45f, 0.55f};
  const std::vector<int> truth = {0, 0, 0, 0};
  const CalibrationReport r = calibration_report(p, 2, truth, 10);
  ASSERT_EQ(r.bins.size(), 10u);
  EXPECT_EQ(r.bins[8].count, 2);  // (0.8, 0.9]
  EXPECT_NEAR(r.bins[8].confidence, 0.85, 1e-6);
  EXPECT_NEAR(r.bins[8].accuracy, 0.5, 1e-12);
  EXPECT_EQ(r.bins[5].count, 2);  // (0.5, 0.6]
  EXPECT_NEAR(r.bins[5].confidence, 0.565, 1e-6);
  EXPECT_EQ(r.bins[0].count + r.bins[9].count, 0);
  // ECE: 2/4 * |0.5 - 0.85| + 2/4 * |0.5 - 0.565|.
  EXPECT_NEAR(r.ece, 0.5 * 0.35 + 0.5 * 0.065, 1e-6);
  EXPECT_NEAR(r.nll, -(std::log(0.85) + std::log(0.15) + std::log(0.58) + std::log(0.45)) / 4, 1e-6);
  EXPECT_THROW(calibration_report(p, 2, {0, 0, 0}), Error);
  EXPECT_THROW(calibration_report(p, 2, {0, 0, 0, 2}), Error);
}

// n clips of `windows` windows each whose logits are `scale` times logits from which the labels were drawn:
// the temperature that undoes the scale is `scale`.
WindowProbabilities scaled_clips(int n, int windows, double scale, std::vector<int>& truth) {
  torch::manual_seed(7);
  const torch::Tensor z = torch::randn({n, 5}) * 2;
  const torch::Tensor labels = torch::multinomial(torch::softmax(z, 1), 1).squeeze(1);
  truth.assign(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + n);
  WindowProbabilities p;
  // Every window of a clip: the clip's logits plus a little noise of its own.
  p.logits = (z.repeat_interleave(windows, 0) + 0.05 * torch::randn({n * windows, 5})) * scale;
  for (int k = 0; k <= n; ++k) p.first.push_back(static_cast<int64_t>(k) * windows);
  return p;
}

TEST(Calibration, TemperatureIsTheMinimumOfTheNllAndUndoesAKnownScale) {
  std::vector<int> truth;
  const WindowProbabilities over = scaled_clips(3000, 1, 3.0, truth);
  EXPECT_NEAR(fit_temperature(over, truth), 3.0, 0.3);  // overconfident by 3: T near 3
  const WindowProbabilities under = scaled_clips(3000, 1, 0.5, truth);
  EXPECT_NEAR(fit_temperature(under, truth), 0.5, 0.05);  // underconfident: T below 1

  // Window-averaged clips: the fit agrees with a brute-force search of the NLL over a fine grid.
  const WindowProbabilities clips = scaled_clips(200, 3, 1.7, truth);
  const torch::Tensor y = torch::tensor(std::vector<int64_t>(truth.begin(), truth.end()));
  // The objective: the mean NLL plus the prior's (log T)^2 / (2 n) (sigma 1).
  auto nll = [&](double t) {
    return -at_temperature(clips, t).mean.gather(1, y.unsqueeze(1)).log().mean().item<double>() +
           std::log(t) * std::log(t) / (2.0 * 200);
  };
  double best_t = 1, best = 1e300;
  for (int i = 0; i <= 4000; ++i) {
    const double t = std::exp(std::log(0.05) + i * (std::log(20.0) - std::log(0.05)) / 4000);
    if (const double v = nll(t); v < best) best = v, best_t = t;
  }
  const double fitted = fit_temperature(clips, truth);
  EXPECT_NEAR(fitted, best_t, best_t * 0.003);
  EXPECT_LE(nll(fitted), best + 1e-9);

  // A few clips, all answered right: without the prior the NLL falls all the way to T = 0.05 (certainty);
  // with it the temperature sharpens a little and stops.
  WindowProbabilities few;
  few.logits = torch::tensor({2.0f, 0.0f, 0.0f, 0.0f, 1.5f, 0.0f, 0.0f, 0.0f, 2.5f, 2.2f, 0.0f, 0.0f}).view({4, 3});
  few.first = {0, 1, 2, 3, 4};
  const std::vector<int> right = {0, 1, 2, 0};
  EXPECT_LT(fit_temperature(few, right, 1e6), 0.15);  // (where fp32 probabilities of the right class reach 1)
  const double sharpened = fit_temperature(few, right);
  EXPECT_GT(sharpened, 0.2);
  EXPECT_LT(sharpened, 1.0);

  const ConfidenceCalibration c = fit_calibration(clips, truth, 0.9);
  EXPECT_EQ(c.clips, 200);
  EXPECT_DOUBLE_EQ(c.temperature, fitted);
  EXPECT_LT(c.nll_after, c.nll_before);
  EXPECT_LT(c.ece_after, c.ece_before);
  // The threshold keeps 90% of the clips: 180 of 200 energies are at or below it.
  const torch::Tensor e = at_temperature(clips, 1).energy;
  EXPECT_EQ(e.le(c.energy_threshold).sum().item<int64_t>(), 180);
  EXPECT_THROW(fit_calibration(clips, {0, 1}, 0.9), Error);
}

TEST(Calibration, EnergyThresholdKeepsTheStatedShare) {
  EXPECT_EQ(energy_threshold({3, 1, 2, 5, 4}, 0.8), 4);
  EXPECT_EQ(energy_threshold({3, 1, 2, 5, 4}, 1.0), 5);
  EXPECT_EQ(energy_threshold({3, 1, 2, 5, 4}, 0.01), 1);
  EXPECT_EQ(energy_threshold({-7.5}, 0.95), -7.5);
  EXPECT_THROW(energy_threshold({}, 0.95), Error);
  EXPECT_THROW(energy_threshold({1}, 0), Error);
}

TEST(Calibration, StoredInTheModelFileAndBadValuesRefused) {
  test::TempDir d;
  const auto path = test::make_small_model_file(d.path());
  ModelFile mf = read_model_file(path);
  EXPECT_TRUE(mf.calibration.empty());
  mf.calibration = {.temperature = 1.5, .energy_threshold = -4.25, .energy_tpr = 0.9, .clips = 12, .subset = "valid",
                    .nll_before = 1.2, .nll_after = 1.1, .ece_before = 0.2, .ece_after = 0.05};
  save_model_file(path, mf);
  const ConfidenceCalibration back = read_model_file(path).calibration;
  EXPECT_EQ(back.temperature, 1.5);
  EXPECT_EQ(back.energy_threshold, -4.25);
  EXPECT_EQ(back.energy_tpr, 0.9);
  EXPECT_EQ(back.clips, 12);
  EXPECT_EQ(back.subset, "valid");
  EXPECT_EQ(back.ece_after, 0.05);
  const std::string good = back.to_json();
  auto with = [&](const char* key, nlohmann::json v) {
    auto j = nlohmann::json::parse(good);
    j[key] = v;
    return j.dump();
  };
  for (auto bad : {with("temperature", 0), with("temperature", 1000), with("temperature", "hot"), with("energy_tpr", 0),
                   with("clips", -1), with("energy_threshold", nullptr), std::string("{\"temperature\": 2"), std::string("[]")}) {
    try {
      ConfidenceCalibration::from_json(bad, "m.safetensors");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("m.safetensors"), std::string::npos) << e.what();
    }
  }
}

class Trust : public ::testing::Test {
 protected:
  void SetUp() override {
    plain_ = test::make_small_model_file(dir_.path());
    std::filesystem::create_directories(dir_ / "calibrated");
    calibrated_ = dir_ / "calibrated" / "model.safetensors";
    ModelFile mf = read_model_file(plain_);
    mf.calibration = {.temperature = 2.0, .energy_threshold = 0, .energy_tpr = 0.95, .clips = 10, .subset = "valid"};
    save_model_file(calibrated_, mf);
    clip_ = synthesize_example_clip(6.0, 8000, 5);
  }
  ClassifierOptions fp32(bool calibrated = true, UnknownOptions u = {}) const {
    ClassifierOptions o;
    o.precision = "fp32";
    o.threads = 2;
    o.calibrated = calibrated;
    o.unknown = u;
    return o;
  }
  // The model's logits of the clip, by hand (one window: the clip is shorter than the input).
  torch::Tensor logits_by_hand() const {
    std::vector<float> q = clip_;
    quantize_16bit(q);
    ResNet m = load_model(read_model_file(plain_));
    torch::NoGradGuard ng;
    const std::vector<Spectrogram> input = {FeatureExtractor(test::small_features()).model_input(q)};
    return m->forward(stack_spectrograms(input, 3))[0];
  }
  test::TempDir dir_;
  std::filesystem::path plain_, calibrated_;
  std::vector<float> clip_;
};

TEST_F(Trust, TheTemperatureAndTheEnergyAreTheModelsLogitsSeenTwoWays) {
  const torch::Tensor z = logits_by_hand();
  const Classification raw = Classifier(calibrated_, fp32(false)).classify(clip_, 8000);
  const Classification cal = Classifier(calibrated_, fp32()).classify(clip_, 8000);
  EXPECT_EQ(raw.temperature, 1);
  EXPECT_EQ(cal.temperature, 2);
  const torch::Tensor p_raw = torch::softmax(z, 0), p_cal = torch::softmax(z / 2, 0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(raw.probabilities[i], p_raw[i].item<float>(), 1e-5);
    EXPECT_NEAR(cal.probabilities[i], p_cal[i].item<float>(), 1e-5);
  }
  EXPECT_EQ(raw.ranked[0].genre, cal.ranked[0].genre);  // the ranking is the model's either way
  EXPECT_NEAR(cal.energy, -torch::logsumexp(z, 0).item<double>(), 1e-4);
  EXPECT_NEAR(raw.energy, cal.energy, 1e-6);  // at temperature 1 whatever the calibration
  ASSERT_TRUE(cal.energy_threshold.has_value());
  EXPECT_EQ(*cal.energy_threshold, 0);
  EXPECT_FALSE(Classifier(plain_, fp32()).classify(clip_, 8000).energy_threshold.has_value());
  // The describing JSON says what is applied.
  const auto m = nlohmann::json::parse(Classifier(calibrated_, fp32(false)).describe_json());
  EXPECT_EQ(m["calibration"]["temperature"], 2.0);
  EXPECT_EQ(m["calibration"]["applied"], false);
  EXPECT_TRUE(nlohmann::json::parse(Classifier(plain_, fp32()).describe_json())["calibration"].is_null());
  // And as typed values, so that no caller parses the description back (the server, tag_files).
  const Classifier unapplied(calibrated_, fp32(false)), applied(calibrated_, fp32()), plain(plain_, fp32());
  EXPECT_EQ(unapplied.calibration().temperature, 2.0);
  EXPECT_FALSE(unapplied.applies_temperature());
  EXPECT_TRUE(applied.applies_temperature());
  EXPECT_TRUE(plain.calibration().empty());
  EXPECT_FALSE(plain.applies_temperature());
  // A calibration rewrites the file's metadata, not its weights: the same identity.
  EXPECT_EQ(applied.identity().weights_sha256, plain.identity().weights_sha256);
  EXPECT_EQ(applied.identity().file, calibrated_);
}

TEST_F(Trust, UnknownBelowTheConfidenceOrOutOfDistributionWithTheCandidatesKept) {
  const Classification answered = Classifier(calibrated_, fp32()).classify(clip_, 8000);
  EXPECT_EQ(answered.genre, answered.ranked[0].genre);
  EXPECT_TRUE(answered.unknown_reason.empty());

  const Classification low = Classifier(calibrated_, fp32(true, {.min_confidence = 1.0})).classify(clip_, 8000);
  EXPECT_EQ(low.genre, Classification::kUnknown);
  EXPECT_NE(low.unknown_reason.find("is below 1.000"), std::string::npos) << low.unknown_reason;
  EXPECT_EQ(low.ranked.size(), 4u);
  EXPECT_EQ(low.ranked[0].genre, answered.ranked[0].genre);
  auto j = nlohmann::json::parse(low.to_json(2));
  EXPECT_EQ(j["genre"], "unknown");
  EXPECT_EQ(j["unknown_reason"], low.unknown_reason);
  EXPECT_EQ(j["ranked"].size(), 2u);
  EXPECT_EQ(j["temperature"], 2.0);

  // The out-of-distribution rule against thresholds just above and just below this clip's energy.
  Classification c = answered;
  c.energy_threshold = c.energy + 0.01;
  c.decide({.out_of_distribution = true});
  EXPECT_EQ(c.genre, answered.ranked[0].genre);
  c.energy_threshold = c.energy - 0.01;
  c.decide({.out_of_distribution = false});
  EXPECT_EQ(c.genre, answered.ranked[0].genre);  // not asked for: only reported
  EXPECT_TRUE(nlohmann::json::parse(c.to_json())["out_of_distribution"].get<bool>());
  c.decide({.out_of_distribution = true});
  EXPECT_EQ(c.genre, Classification::kUnknown);
  EXPECT_NE(c.unknown_reason.find("out of distribution"), std::string::npos) << c.unknown_reason;
  // The file's threshold is 0: the classifier's own decision follows the rule on whichever side of it this
  // clip's energy falls.
  const Classification ood = Classifier(calibrated_, fp32(true, {.out_of_distribution = true})).classify(clip_, 8000);
  EXPECT_EQ(ood.genre == Classification::kUnknown, ood.energy > 0);

  try {
    Classifier(plain_, fp32(true, {.out_of_distribution = true}));
    ADD_FAILURE() << "an uncalibrated model took the out-of-distribution rule";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(plain_.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("genrenet calibrate"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Classifier(plain_, fp32(true, {.min_confidence = 1.5})), Error);
  EXPECT_THROW(c.decide({.min_confidence = -0.1}), Error);
}

TEST_F(Trust, PredictAndServeAnswerUnknownAsAsked) {
  const std::string exe = GENRENET_EXE;
  write_wav(dir_ / "clip.wav", clip_, 8000);
  const std::string base = exe + " predict --model " + calibrated_.string() + " --precision fp32 " + (dir_ / "clip.wav").string();
  auto r = test::run(base + " --min-confidence 1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("unknown (confidence"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("candidates:"), std::string::npos) << r.output;
  r = test::run(base + " --min-confidence 1 --format jsonl");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto row = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(row["genre"], "unknown");
  EXPECT_EQ(row["temperature"], 2.0);
  r = test::run(base + " --min-confidence 1 --format csv");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(",error,answer\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(",,unknown\n"), std::string::npos) << r.output;
  r = test::run(base + " --no-calibration --format jsonl");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output.substr(r.output.find('{')))["temperature"], 1.0);
  r = test::run(exe + " predict --model " + plain_.string() + " --reject-ood " + (dir_ / "clip.wav").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("not calibrated"), std::string::npos) << r.output;
  r = test::run(base + " --min-confidence 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--min-confidence"), std::string::npos) << r.output;

  // The service: the rule per request, over the service's default; a bad one is a 400.
  ServerOptions so;
  so.port = 0;
  so.log_requests = false;
  HttpServer server(calibrated_, fp32(), so);
  const int port = server.bind();
  std::thread serving([&] { server.run(); });
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  const std::string wav = test::read_bytes(dir_ / "clip.wav");
  auto answer = [&](const std::string& query) {
    auto res = client.Post("/v1/classify" + query, wav, "application/octet-stream");
    return res ? std::pair{res->status, nlohmann::json::parse(res->body)} : std::pair{0, nlohmann::json()};
  };
  auto [status, j] = answer("");
  EXPECT_EQ(status, 200);
  EXPECT_NE(j["genre"], "unknown");
  EXPECT_EQ(j["temperature"], 2.0);
  EXPECT_TRUE(j.contains("out_of_distribution"));
  std::tie(status, j) = answer("?min_confidence=1");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(j["genre"], "unknown");
  EXPECT_EQ(j["ranked"].size(), 4u);
  std::tie(status, j) = answer("?reject_ood=1");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(j["genre"] == "unknown", j["out_of_distribution"].get<bool>());
  std::tie(status, j) = answer("?min_confidence=2");
  EXPECT_EQ(status, 400);
  EXPECT_NE(j["error"].get<std::string>().find("min_confidence"), std::string::npos);
  auto model = nlohmann::json::parse(client.Get("/v1/model")->body);
  EXPECT_EQ(model["calibration"]["applied"], true);
  server.stop();
  serving.join();

  HttpServer plain_server(plain_, fp32(), so);
  const int plain_port = plain_server.bind();
  std::thread plain_serving([&] { plain_server.run(); });
  httplib::Client plain_client("127.0.0.1", plain_port);
  plain_client.set_read_timeout(60, 0);
  auto res = plain_client.Post("/v1/classify?reject_ood=1", wav, "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("not calibrated"), std::string::npos) << res->body;
  plain_server.stop();
  plain_serving.join();
}

}  // namespace
}  // namespace genrenet
