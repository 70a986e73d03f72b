// Resampler quality: the numbers the issue asks for, on pure tones.
#include <genrenet/genrenet.h>

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
