// Parity with torchaudio 0.13: MelSpectrogram(16000, n_fft=2048, hop_length=512, n_mels=128, mel_scale,
// norm) followed by AmplitudeToDB, on the same 16 kHz input. The fixtures are written at test time by
// tests/make_parity_fixtures.py (ctest runs it first; GENRENET_PARITY_DIR says where they are).
#include <cstdlib>

#include <genrenet/genrenet.h>

#include "test_util.h"

namespace genrenet {
namespace {

std::filesystem::path fixture_dir() {
  const char* d = std::getenv("GENRENET_PARITY_DIR");
  return d ? d : "parity-fixtures";
}

struct Config {
  const char* name;
  MelScale scale;
  MelNorm norm;
  std::optional<double> top_db;
};

void PrintTo(const Config& c, std::ostream* os) { *os << c.name; }

class TorchaudioParity : public ::testing::TestWithParam<Config> {};

TEST_P(TorchaudioParity, MelAndDbAgree) {
  const Config& c = GetParam();
  auto dir = fixture_dir();
  ASSERT_TRUE(std::filesystem::exists(dir / "input.npy"))
      << "fixtures missing in " << dir << ": run tests/make_parity_fixtures.py (needs python3-torchaudio)";
  NpyArray input = read_npy(dir / "input.npy");
  NpyArray ref_mel = read_npy(dir / (std::string(c.name) + "_mel.npy"));
  NpyArray ref_db = read_npy(dir / (std::string(c.name) + "_db.npy"));

  FeatureOptions o;
  o.mel_scale = c.scale;
  o.mel_norm = c.norm;
  o.top_db = c.top_db;
  FeatureExtractor fx(o);
  Spectrogram mel = fx.mel_power(input.data);
  ASSERT_EQ(ref_mel.shape, (std::vector<std::int64_t>{mel.n_mels, mel.n_frames}));

  double peak = 0;
  for (float v : ref_mel.data) peak = std::max<double>(peak, v);
  for (size_t i = 0; i < mel.data.size(); ++i)
    ASSERT_NEAR(mel.data[i], ref_mel.data[i], 1e-4 * std::fabs(ref_mel.data[i]) + 1e-6 * peak) << "value " << i;

  Spectrogram db = mel;
  fx.to_db(db);
  size_t compared = 0;
  double worst = 0;
  for (size_t i = 0; i < db.data.size(); ++i) {
    if (ref_db.data[i] <= -80.0f) continue;  // the bound: every bin above -80 dB
    worst = std::max(worst, std::fabs(double(db.data[i]) - ref_db.data[i]));
    ++compared;
  }
  std::printf("[ parity   ] %s: largest difference %.2e dB over %zu bins above -80 dB\n", c.name, worst, compared);
  EXPECT_LT(worst, 1e-3) << "largest dB difference over " << compared << " bins";
  EXPECT_GT(compared, db.data.size() / 2);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, TorchaudioParity,
    ::testing::Values(Config{"htk_none", MelScale::Htk, MelNorm::None, std::nullopt},
                      Config{"htk_slaney", MelScale::Htk, MelNorm::Slaney, std::nullopt},
                      Config{"slaney_none", MelScale::Slaney, MelNorm::None, std::nullopt},
                      Config{"slaney_slaney", MelScale::Slaney, MelNorm::Slaney, std::nullopt},
                      Config{"htk_none_topdb80", MelScale::Htk, MelNorm::None, 80.0}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace genrenet
