// Resampler quality: the numbers the issue asks for, on pure tones.
#include <genrenet/genrenet.h>

#include <bit>
#include <cstdint>
#include <random>

#include "audio/pcm16.h"
#include "audio/polyphase.h"
#include "common/simd.h"
#include "test_util.h"

namespace genrenet {
namespace {

// SNR of `y` against the ideal tone at the output rate, skipping the edges where the filter starts up.
double snr_db(const std::vector<float>& y, double hz, int rate, double amp) {
  double sig = 0, err = 0;
  for (size_t i = 2000; i + 2000 < y.size(); ++i) {
    double ref = amp * std::sin(2 * std::numbers::pi * hz * i / rate);
    sig += ref * ref;
    err += (y[i] - ref) * (y[i] - ref);
  }
  return 10 * std::log10(sig / err);
}

double rms(const std::vector<float>& y) {
  double s = 0;
  for (size_t i = 2000; i + 2000 < y.size(); ++i) s += double(y[i]) * y[i];
  return std::sqrt(s / (y.size() - 4000));
}

TEST(Resample, OneKilohertzKeepsMoreThan90dBSnr) {
  auto x = test::sine(1000, 5.0, 22050, 0.5);
  auto y = resample(x, 22050, 16000);
  EXPECT_EQ(y.size(), 80000u);
  double snr = snr_db(y, 1000, 16000, 0.5);
  std::printf("[ quality  ] 1 kHz, 22050 -> 16000 Hz: SNR %.1f dB\n", snr);
  EXPECT_GT(snr, 90.0);
}

TEST(Resample, NineKilohertzIsAttenuatedByMoreThan80dB) {
  auto x = test::sine(9000, 5.0, 22050, 0.5);
  auto y = resample(x, 22050, 16000);
  double atten = 20 * std::log10(rms(x) / rms(y));
  std::printf("[ quality  ] 9 kHz, 22050 -> 16000 Hz: attenuated by %.1f dB\n", atten);
  EXPECT_GT(atten, 80.0);
}

TEST(Resample, EveryQualityPassesTheTone) {
  auto x = test::sine(440, 1.0, 44100, 0.5);
  for (auto q : {ResampleQuality::Low, ResampleQuality::Medium, ResampleQuality::High, ResampleQuality::VeryHigh}) {
    auto y = resample(x, 44100, 16000, q);
    EXPECT_EQ(y.size(), 16000u);
    EXPECT_GT(snr_db(y, 440, 16000, 0.5), 60.0);
  }
}

TEST(Resample, UpsamplingWorksToo) {
  auto x = test::sine(1000, 1.0, 8000, 0.5);
  auto y = resample(x, 8000, 16000);
  EXPECT_EQ(y.size(), 16000u);
  EXPECT_GT(snr_db(y, 1000, 16000, 0.5), 90.0);
}

TEST(Resample, LibsoxrMeetsTheSameBounds) {
  auto x = test::sine(1000, 5.0, 22050, 0.5);
  auto y = resample(x, 22050, 16000, ResampleQuality::High, Resampler::Soxr);
  EXPECT_EQ(y.size(), 80000u);
  EXPECT_GT(snr_db(y, 1000, 16000, 0.5), 90.0);
  auto x9 = test::sine(9000, 5.0, 22050, 0.5);
  EXPECT_GT(20 * std::log10(rms(x9) / rms(resample(x9, 22050, 16000, ResampleQuality::High, Resampler::Soxr))), 80.0);
}

TEST(Resample, PolyphaseAndLibsoxrAgreeOnMusicRates) {
  // Both are linear-phase and delay-compensated: on a tone well inside the passband they give the same
  // signal, to the precision of their filters.
  for (int rate : {22050, 44100, 48000, 11025, 32000}) {
    auto x = test::sine(440, 2.0, rate, 0.5);
    auto a = resample(x, rate, 16000, ResampleQuality::High, Resampler::Polyphase);
    auto b = resample(x, rate, 16000, ResampleQuality::High, Resampler::Soxr);
    ASSERT_NEAR(static_cast<double>(a.size()), static_cast<double>(b.size()), 1.0) << rate;
    double err = 0;
    for (size_t i = 2000; i + 2000 < std::min(a.size(), b.size()); ++i) err = std::max(err, double(std::abs(a[i] - b[i])));
    EXPECT_LT(err, 1e-4) << rate;
    EXPECT_GT(snr_db(a, 440, 16000, 0.5), 90.0) << rate;
  }
}

// Whatever kernel runs (the blocked one of 16 outputs, or the per-phase one where the blocked table would
// be too large; AVX-512, AVX2 or SSE, as many as this CPU runs), each output is its phase's dot product
// with the input around n·M/L: checked against that definition in double precision, on noise, at every
// output including the last super-period's remainder, at lengths from one sample to 0.77 s.
TEST(Resample, PolyphaseIsItsDesignsDotProductAtEveryOutput) {
  std::mt19937 random(7);
  std::uniform_real_distribution<float> noise(-0.5f, 0.5f);
  test::for_each_simd_level([&](simd::Level level) {
    for (auto [from, to] : std::vector<std::pair<int, int>>{{22050, 16000}, {44100, 16000}, {48000, 16000}, {11025, 16000}, {8000, 16000}, {16000, 22050}}) {
      const PolyphaseDesign d = design_polyphase(from, to, ResampleQuality::High);
      EXPECT_EQ(d.blocks.empty(), from == 16000) << from << " -> " << to;  // 441 phases: 16 x 441 outputs a block period
      // Short inputs too: no whole super-period, or too few for any to be read in place between the ends.
      for (size_t length : {size_t{1}, size_t{37}, size_t{450}, size_t{1000}, size_t{3000}, static_cast<size_t>(from * 0.77) + 13}) {
        std::vector<float> in(length);
        for (float& v : in) v = noise(random);
        const std::vector<float> y = resample_polyphase(in, d);
        ASSERT_EQ(y.size(), (in.size() * d.up + d.down / 2) / d.down);
        const std::int64_t front = d.taps / 2 - 1;
        double worst = 0;
        for (std::int64_t n = 0; n < static_cast<std::int64_t>(y.size()); ++n) {
          const std::int64_t pos = n * d.down, start = pos / d.up - front;
          double want = 0;
          for (int k = 0; k < d.taps; ++k) {
            const std::int64_t i = start + k;
            if (i >= 0 && i < static_cast<std::int64_t>(in.size())) want += double(d.table[(pos % d.up) * d.taps + k]) * in[i];
          }
          worst = std::max(worst, std::abs(want - y[n]));
        }
        EXPECT_LT(worst, 2e-6) << from << " -> " << to << ", " << length << " samples, SIMD level " << static_cast<int>(level);
      }
    }
  });
}

// The resampler rounds to 16 bits in registers as it stores (quantize_16bit_vector): the same bits as the
// scalar definition, for ties, values that round to zero from below (-0), the int16 limits and beyond; and a
// resampling that rounds as it stores gives what rounding its output afterwards gives, on every kernel.
TEST(Resample, RoundingAsItStoresIsThePassAfter) {
  std::vector<float> values;
  for (int k = -70000; k <= 70000; ++k) values.push_back(static_cast<float>(k) / 2 / 32768.0f);  // every tie
  for (float v : {0.0f, -0.0f, -1e-9f, 1e-9f, -0.49f / 32768, 1.0f, -1.0f, 32767.5f / 32768, -32768.5f / 32768, 3.0f, -7.0f})
    values.push_back(v);
  std::mt19937 random(11);
  std::uniform_real_distribution<float> wide(-1.2f, 1.2f);
  for (int i = 0; i < 100000; ++i) values.push_back(wide(random));
  while (values.size() % 16) values.push_back(0.5f);
  for (size_t i = 0; i < values.size(); i += 16) {
    simd::F32x16 v;
    simd::load(v, values.data() + i);
    const simd::F32x16 q = quantize_16bit_vector(v);
    for (int j = 0; j < 16; ++j) {
      const float want = quantize_16bit_sample(values[i + j]);
      ASSERT_EQ(std::bit_cast<std::uint32_t>(q[j]), std::bit_cast<std::uint32_t>(want)) << values[i + j];
    }
  }
  std::uniform_real_distribution<float> loud(-1.5f, 1.5f);  // past full scale too: clipped
  test::for_each_simd_level([&](simd::Level level) {
    for (auto [from, to] : std::vector<std::pair<int, int>>{{22050, 16000}, {16000, 22050}}) {
      const PolyphaseDesign d = design_polyphase(from, to, ResampleQuality::High);
      for (size_t length : {size_t{37}, size_t{3000}, static_cast<size_t>(from * 0.77) + 13}) {
        std::vector<float> in(length);
        for (float& v : in) v = loud(random);
        std::vector<float> after = resample_polyphase(in, d);
        quantize_16bit(after);
        const std::vector<float> rounded = resample_polyphase(in, d, /*quantize_16bit=*/true);
        ASSERT_EQ(rounded.size(), after.size());
        for (size_t n = 0; n < after.size(); ++n)
          ASSERT_EQ(std::bit_cast<std::uint32_t>(rounded[n]), std::bit_cast<std::uint32_t>(after[n]))
              << from << " -> " << to << ", output " << n << " of " << after.size() << ", SIMD level " << static_cast<int>(level);
      }
    }
  });
}

// Into a buffer kept from call to call: the same samples as into a fresh vector, for each resampler and at
// equal rates, after a longer output and after a shorter one.
TEST(Resample, IntoAReusedBufferIsIntoAFreshVector) {
  simd::ScratchFloats out;
  std::mt19937 random(5);
  std::uniform_real_distribution<float> value(-1.1f, 1.1f);
  struct Case {
    int from, to;
    Resampler resampler;
    bool quantize;
    size_t length;
  };
  for (const Case& c : std::vector<Case>{{22050, 16000, Resampler::Polyphase, true, 50000},
                                         {22050, 16000, Resampler::Polyphase, false, 7000},
                                         {16000, 16000, Resampler::Polyphase, true, 9000},
                                         {44100, 16000, Resampler::Soxr, true, 30000},
                                         {11025, 16000, Resampler::Polyphase, false, 40000},
                                         {22050, 16000, Resampler::Polyphase, true, 333}}) {
    std::vector<float> in(c.length);
    for (float& v : in) v = value(random);
    const std::vector<float> fresh = resample(in, c.from, c.to, ResampleQuality::High, c.resampler, c.quantize);
    resample_into(in, c.from, c.to, ResampleQuality::High, c.resampler, c.quantize, out);
    ASSERT_EQ(out.size(), fresh.size()) << c.from << " -> " << c.to;
    for (size_t n = 0; n < fresh.size(); ++n)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(out[n]), std::bit_cast<std::uint32_t>(fresh[n])) << c.from << " -> " << c.to << ", " << n;
  }
}

TEST(Resample, ConstantStaysConstantAndEdgesStayBounded) {
  std::vector<float> x(22050, 0.25f);
  auto y = resample(x, 22050, 16000);
  for (size_t i = 200; i + 200 < y.size(); ++i) ASSERT_NEAR(y[i], 0.25f, 1e-5) << i;
  for (float v : y) ASSERT_LT(std::abs(v), 0.3f);
}

TEST(Resample, FeatureOptionsRecordTheResamplerAndOldOnesKeepLibsoxr) {
  FeatureOptions fresh;
  EXPECT_EQ(fresh.audio.resampler, Resampler::Polyphase);
  EXPECT_NE(fresh.to_json().find("\"resampler\":\"polyphase\""), std::string::npos) << fresh.to_json();
  EXPECT_EQ(FeatureOptions::from_json(fresh.to_json()).audio.resampler, Resampler::Polyphase);
  // Options written before the choice existed (version 1, every model file of then) mean libsoxr.
  EXPECT_EQ(FeatureOptions::from_json("{\"version\": 1, \"n_mels\": 64}").audio.resampler, Resampler::Soxr);
  EXPECT_EQ(FeatureOptions::from_json("{\"n_mels\": 64}").audio.resampler, Resampler::Polyphase);
  EXPECT_EQ(FeatureOptions::from_json("{\"resampler\": \"soxr\"}").audio.resampler, Resampler::Soxr);
  EXPECT_THROW(FeatureOptions::from_json("{\"resampler\": \"linear\"}"), Error);
  EXPECT_THROW(FeatureOptions::from_json("{\"version\": 3}"), Error);
}

TEST(Resample, SameRateIsACopy) {
  auto x = test::sine(1000, 0.1, 16000);
  EXPECT_EQ(resample(x, 16000, 16000), x);
}

TEST(Resample, BadRatesAreErrors) {
  std::vector<float> x(100, 0.f);
  EXPECT_THROW(resample(x, 0, 16000), Error);
  EXPECT_THROW(resample(x, 16000, -1), Error);
}

}  // namespace
}  // namespace genrenet
