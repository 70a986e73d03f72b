// The feature stage on its own: FFT against a direct DFT, the filterbank, dB, standardisation, fixed length,
// and the options' validation and JSON form.
#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <optional>
#include <random>
#include <set>
#include <string>

#include <genrenet/genrenet.h>

#include "features/batched_fft.h"
#include "features/mel_filterbank.h"
#include "common/simd.h"
#include "test_util.h"

namespace genrenet {
namespace {

constexpr int B = features::BatchedPowerSpectrum::kBatch;

class BatchedFft : public ::testing::TestWithParam<int> {};

TEST_P(BatchedFft, MatchesADirectDftInDoublePrecision) {
  const int n = GetParam(), m = n / 2;
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  std::vector<std::vector<float>> frames(B, std::vector<float>(n));
  for (auto& f : frames)
    for (auto& v : f) v = g(rng);
  std::vector<float> re(m * B), im(m * B), power((m + 1) * B);
  features::BatchedPowerSpectrum fft(n);
  for (int b = 0; b < B; ++b)
    for (int p = 0; p < m; ++p) {
      re[p * B + b] = frames[b][2 * p];
      im[p * B + b] = frames[b][2 * p + 1];
    }
  fft.compute(re.data(), im.data(), power.data());
  for (int b = 0; b < B; b += 5) {
    double scale = 0;
    std::vector<double> ref(m + 1);
    for (int k = 0; k <= m; ++k) {
      std::complex<double> acc = 0;
      for (int j = 0; j < n; ++j) acc += double(frames[b][j]) * std::polar(1.0, -2 * std::numbers::pi * k * j / n);
      ref[k] = std::norm(acc);
      scale = std::max(scale, ref[k]);
    }
    for (int k = 0; k <= m; ++k) EXPECT_NEAR(power[fft.slot(k) * B + b], ref[k], 2e-5 * scale) << "bin " << k << " lane " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, BatchedFft, ::testing::Values(4, 8, 64, 512, 1024, 2048));

TEST(MelScale, HtkAndSlaneyRoundTrip) {
  for (double hz : {0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0}) {
    EXPECT_NEAR(features::mel_to_hz(features::hz_to_mel(hz, MelScale::Htk), MelScale::Htk), hz, 1e-6);
    EXPECT_NEAR(features::mel_to_hz(features::hz_to_mel(hz, MelScale::Slaney), MelScale::Slaney), hz, 1e-6);
  }
  EXPECT_NEAR(features::hz_to_mel(700, MelScale::Htk), 2595 * std::log10(2.0), 1e-9);
  EXPECT_NEAR(features::hz_to_mel(1000, MelScale::Slaney), 15.0, 1e-12);
}

TEST(MelFilterbank, TrianglesPeakAtOneAndCoverTheRange) {
  FeatureOptions o;
  auto fb = features::MelFilterbank::build(o);
  auto dense = fb.dense();
  ASSERT_EQ(dense.size(), 128u * 1025u);
  int empty = 0;
  for (int m = 0; m < 128; ++m) {
    float peak = 0;
    for (int k = 0; k < 1025; ++k) peak = std::max(peak, dense[m * 1025 + k]);
    if (peak == 0) ++empty;
    else EXPECT_LE(peak, 1.0f + 1e-6f);
  }
  // With 2048-point FFTs at 16 kHz (7.8 Hz bins), the lowest HTK bands are narrower than a bin:
  // torchaudio leaves some of them empty too, and warns about it.
  EXPECT_LT(empty, 8);
}

TEST(MelFilterbank, SlaneyNormGivesUnitAreaPerHz) {
  FeatureOptions o;
  o.mel_norm = MelNorm::Slaney;
  o.mel_scale = MelScale::Slaney;
  auto dense = features::MelFilterbank::build(o).dense();
  // Area of triangle m in Hz is about 1 (2/bandwidth * bandwidth/2) for bands wide enough to sample well.
  const double bin_hz = 8000.0 / 1024;
  double area = 0;
  for (int k = 0; k < 1025; ++k) area += dense[100 * 1025 + k] * bin_hz;
  EXPECT_NEAR(area, 1.0, 0.02);
}

TEST(Stft, FrameCountFollowsTheCentredConvention) {
  EXPECT_EQ(frame_count(480000, 512), 938);
  EXPECT_EQ(frame_count(511, 512), 1);
  EXPECT_EQ(frame_count(512, 512), 2);
  FeatureExtractor fx(FeatureOptions{});
  auto s = fx.mel_power(test::sine(440, 30.0, 16000));
  EXPECT_EQ(s.n_mels, 128);
  EXPECT_EQ(s.n_frames, 938);
}

TEST(Stft, ATonePeaksInItsMelBand) {
  FeatureExtractor fx(FeatureOptions{});
  auto s = fx.log_mel(test::sine(1000, 1.0, 16000));
  // The band whose centre is nearest to 1 kHz must be the loudest in the middle frame.
  const double m_lo = features::hz_to_mel(0, MelScale::Htk), m_hi = features::hz_to_mel(8000, MelScale::Htk);
  int expect = static_cast<int>(std::lround((features::hz_to_mel(1000, MelScale::Htk) - m_lo) / (m_hi - m_lo) * 129)) - 1;
  int best = 0;
  for (int m = 0; m < 128; ++m)
    if (s.at(m, 15) > s.at(best, 15)) best = m;
  EXPECT_NEAR(best, expect, 1);
}

// The mel power spectrogram against its definition in double precision: reflect-padded centred frames, the
// periodic Hann window, a direct DFT and the dense filterbank.
void expect_mel_power_is_its_definition(int n_fft, int hop, int length, std::mt19937& rng, const std::string& where) {
  std::normal_distribution<float> g;
  FeatureOptions o;
  o.n_fft = n_fft;
  o.hop_length = hop;
  o.n_mels = std::min(40, n_fft / 2 + 1);
  std::vector<float> x(static_cast<size_t>(length));
  for (float& v : x) v = g(rng);
  const Spectrogram got = FeatureExtractor(o).mel_power(x);
  const std::vector<float> dense = features::MelFilterbank::build(o).dense();
  const int bins = n_fft / 2 + 1, n = length;
  ASSERT_EQ(got.n_frames, frame_count(x.size(), hop));
  for (int t = 0; t < got.n_frames; ++t) {
    std::vector<double> frame(n_fft), power(bins), mel(o.n_mels, 0.0);
    for (int j = 0; j < n_fft; ++j) {
      int i = t * hop + j - n_fft / 2;
      while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;  // reflect, as often as needed
      frame[j] = x[n == 1 ? 0 : i] * (0.5 - 0.5 * std::cos(2 * std::numbers::pi * j / n_fft));
    }
    for (int k = 0; k < bins; ++k) {
      std::complex<double> acc = 0;
      for (int j = 0; j < n_fft; ++j) acc += frame[j] * std::polar(1.0, -2 * std::numbers::pi * k * j / n_fft);
      power[k] = std::norm(acc);
    }
    double scale = 0;
    for (int m = 0; m < o.n_mels; ++m) {
      for (int k = 0; k < bins; ++k) mel[m] += dense[static_cast<size_t>(m) * bins + k] * power[k];
      scale = std::max(scale, mel[m]);
    }
    for (int m = 0; m < o.n_mels; ++m)
      ASSERT_NEAR(got.at(m, t), mel[m], 1e-5 * scale + 1e-12) << where << ": band " << m << ", frame " << t;
  }
}

// Hops that do not divide n_fft, a hop equal to it, and inputs shorter than a frame exercise how frames are
// cut from the signal at both ends; at every SIMD level this CPU runs (the panel's transposes and the
// filterbank are chosen by level).
TEST(Stft, MelPowerIsItsDefinitionAtAnyHop) {
  std::mt19937 rng(11);
  test::for_each_simd_level([&](simd::Level level) {
    for (auto [n_fft, hop, length] : std::vector<std::array<int, 3>>{
             {64, 16, 1000}, {64, 24, 999}, {64, 64, 300}, {128, 50, 37}, {64, 20, 7000}, {2048, 512, 20000}})
      expect_mel_power_is_its_definition(n_fft, hop, length, rng,
                                         "n_fft " + std::to_string(n_fft) + ", hop " + std::to_string(hop) + ", " +
                                             std::to_string(length) + " samples, SIMD level " +
                                             std::to_string(static_cast<int>(level)));
  });
}

TEST(Stft, VeryShortInputsStillWork) {
  FeatureExtractor fx(FeatureOptions{});
  for (size_t n : {1, 2, 100, 1025}) {
    std::vector<float> x(n, 0.1f);
    auto s = fx.log_mel(x);
    EXPECT_EQ(s.n_frames, frame_count(n, 512));
    for (float v : s.data) EXPECT_TRUE(std::isfinite(v));
  }
  EXPECT_THROW(fx.log_mel(std::vector<float>{}), Error);
}

TEST(Db, SilenceSitsAtTheFloorAndTopDbClamps) {
  FeatureOptions o;
  FeatureExtractor fx(o);
  auto s = fx.log_mel(std::vector<float>(16000, 0.f));
  for (float v : s.data) EXPECT_FLOAT_EQ(v, -100.f);
  o.top_db = 30;
  FeatureExtractor clamp(o);
  auto x = test::sine(1000, 1.0, 16000);
  auto d = clamp.log_mel(x);
  auto st = compute_stats(d);
  EXPECT_NEAR(st.max - st.min, 30.0, 1e-3);
}

TEST(Standardize, GivesMeanZeroAndStdOne) {
  FeatureExtractor fx(FeatureOptions{});
  auto s = fx.log_mel(synthesize_example_clip(5.0, 16000));
  standardize(s);
  auto st = compute_stats(s);
  EXPECT_NEAR(st.mean, 0.0, 1e-5);
  EXPECT_NEAR(st.std, 1.0, 1e-5);
}

// One pass over values shifted by the first: the moments of data far from zero relative to its spread, and a
// length that leaves a tail past the 16 lanes, as a two-pass computation in double precision gives them; on
// every SIMD level this CPU runs, the same 16 partial sums (each level on its own registers): the same mean
// to the bit, the spread within the rounding of a fused multiply-add (the levels with FMA contract d·d + s).
TEST(Standardize, StatisticsInOnePassAreTheTwoPassOnes) {
  std::mt19937 rng(3);
  std::normal_distribution<float> spread(0.f, 0.5f);
  for (float offset : {-50.f, 1.0e4f}) {
    Spectrogram s{1, 1000 + 7, {}};
    for (int i = 0; i < s.n_frames; ++i) s.data.push_back(offset + spread(rng));
    double mean = 0, ss = 0;
    for (float v : s.data) mean += v;
    mean /= static_cast<double>(s.data.size());
    for (float v : s.data) ss += (v - mean) * (v - mean);
    const double std = std::sqrt(ss / static_cast<double>(s.data.size() - 1));
    std::optional<SpectrogramStats> first;
    test::for_each_simd_level([&](simd::Level level) {
      const SpectrogramStats st = compute_stats(s);
      const std::string where =
          "offset " + std::to_string(offset) + ", SIMD level " + std::to_string(static_cast<int>(level));
      EXPECT_NEAR(st.mean, mean, std::abs(mean) * 1e-12) << where;
      EXPECT_NEAR(st.std, std, std * 1e-9) << where;
      EXPECT_EQ(st.min, *std::min_element(s.data.begin(), s.data.end())) << where;
      EXPECT_EQ(st.max, *std::max_element(s.data.begin(), s.data.end())) << where;
      if (!first) first = st;
      EXPECT_EQ(st.mean, first->mean) << where;
      EXPECT_NEAR(st.std, first->std, first->std * 1e-15) << where;
    });
  }
}

// The kernels' scratch buffers start on a cache line whatever their size, after growing too.
TEST(Simd, AlignedFloatsStartOnACacheLine) {
  simd::AlignedFloats v;
  for (size_t n : {1, 3, 17, 1000, 100000, 7}) {
    v.resize(n);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data()) % simd::kCacheLine, 0u) << n;
  }
}

TEST(Standardize, ConstantInputBecomesZeros) {
  Spectrogram s{2, 3, std::vector<float>(6, -100.f)};
  standardize(s);
  for (float v : s.data) EXPECT_EQ(v, 0.f);
}

TEST(FixLength, CropsAtTheCentreOrAtRandomAndPads) {
  Spectrogram s{2, 10, {}};
  for (int m = 0; m < 2; ++m)
    for (int t = 0; t < 10; ++t) s.data.push_back(float(m * 100 + t));
  EXPECT_EQ(fix_length_offset(10, 4, CropMode::Center, nullptr), 3);
  EXPECT_EQ(fix_length_offset(10, 4, CropMode::Start, nullptr), 0);
  EXPECT_THROW(fix_length_offset(10, 4, CropMode::Random, nullptr), Error);
  std::mt19937 a(5), b(5);
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) {
    int oa = fix_length_offset(10, 4, CropMode::Random, &a);
    EXPECT_EQ(oa, fix_length_offset(10, 4, CropMode::Random, &b));
    EXPECT_GE(oa, 0);
    EXPECT_LE(oa, 6);
    seen.insert(oa);
  }
  EXPECT_EQ(seen.size(), 7u);
  auto c = fix_length(s, 4, 3, PadMode::Zero);
  EXPECT_EQ(c.n_frames, 4);
  EXPECT_EQ(c.at(1, 0), 103.f);
  auto z = fix_length(s, 13, 0, PadMode::Zero);
  EXPECT_EQ(z.at(1, 9), 109.f);
  EXPECT_EQ(z.at(1, 10), 0.f);
  auto r = fix_length(s, 13, 0, PadMode::Repeat);
  EXPECT_EQ(r.at(1, 12), 102.f);
  // Every value of every row, and nothing more.
  ASSERT_EQ(c.data.size(), 8u);
  ASSERT_EQ(z.data.size(), 26u);
  ASSERT_EQ(r.data.size(), 26u);
  for (int m = 0; m < 2; ++m) {
    for (int t = 0; t < 4; ++t) EXPECT_EQ(c.at(m, t), float(m * 100 + t + 3)) << m << ", " << t;
    for (int t = 0; t < 13; ++t) {
      EXPECT_EQ(z.at(m, t), t < 10 ? float(m * 100 + t) : 0.f) << m << ", " << t;
      EXPECT_EQ(r.at(m, t), float(m * 100 + t % 10)) << m << ", " << t;
    }
  }
}

TEST(ModelInput, IsTheFixedShapeForAnyLength) {
  FeatureExtractor fx(FeatureOptions{});
  for (double secs : {1.0, 30.0, 45.0}) {
    auto s = fx.model_input(synthesize_example_clip(secs, 16000));
    EXPECT_EQ(s.n_mels, 128);
    EXPECT_EQ(s.n_frames, 1024);
    for (float v : s.data) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(FeatureOptions, DefaultsAreThePapers) {
  FeatureOptions o;
  EXPECT_EQ(o.audio.sample_rate, 16000);
  EXPECT_EQ(o.n_fft, 2048);
  EXPECT_EQ(o.hop_length, 512);
  EXPECT_EQ(o.n_mels, 128);
  EXPECT_EQ(o.frames, 1024);
  EXPECT_TRUE(o.audio.quantize_16bit);
  EXPECT_NO_THROW(o.validate());
}

TEST(FeatureOptions, JsonRoundTrip) {
  FeatureOptions o;
  o.mel_scale = MelScale::Slaney;
  o.mel_norm = MelNorm::Slaney;
  o.top_db = 80;
  o.crop = CropMode::Random;
  o.pad = PadMode::Repeat;
  o.audio.resample_quality = ResampleQuality::VeryHigh;
  o.f_min = 20;
  EXPECT_EQ(FeatureOptions::from_json(o.to_json()), o);
  EXPECT_EQ(FeatureOptions::from_json("{}"), FeatureOptions{});
}

TEST(FeatureOptions, BadValuesNameTheField) {
  auto expect_bad = [](const std::string& json, const std::string& field) {
    try {
      FeatureOptions::from_json(json);
      ADD_FAILURE() << "accepted " << json;
    } catch (const Error& e) {
      EXPECT_NE(e.subject().find(field), std::string::npos) << e.what();
    }
  };
  expect_bad(R"({"n_fft": 1000})", "n_fft");
  expect_bad(R"({"hop_length": 0})", "hop_length");
  expect_bad(R"({"n_mels": 5000})", "n_mels");
  expect_bad(R"({"sample_rate": 5})", "sample_rate");
  expect_bad(R"({"f_max": 9000})", "f_max");
  expect_bad(R"({"mel_scale": "bark"})", "mel_scale");
  expect_bad(R"({"frames": 0})", "frames");
  expect_bad(R"({"n_ftt": 2048})", "n_ftt");
  expect_bad(R"({"n_fft": "big"})", "n_fft");
  expect_bad(R"({"top_db": -3})", "top_db");
  // Numbers beyond int's range were converted with undefined behaviour (found by fuzz_config).
  expect_bad(R"({"n_fft": 6.7e29})", "n_fft");
  expect_bad(R"({"frames": 4294967296})", "frames");
  expect_bad(R"({"n_mels": 64.5})", "n_mels");
  EXPECT_EQ(FeatureOptions::from_json(R"({"n_mels": 64.0})").n_mels, 64);
  EXPECT_THROW(FeatureOptions::from_json("not json"), Error);
}

}  // namespace
}  // namespace genrenet
