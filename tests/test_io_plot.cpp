// .npy files, atomic writes and the PNG figures.
#include <genrenet/genrenet.h>

#include "io/atomic_file.h"
#include "test_util.h"

namespace genrenet {
namespace {

// Width and height from a PNG's IHDR chunk.
std::pair<int, int> png_size(const std::filesystem::path& p) {
  std::string b = test::read_bytes(p);
  if (b.size() < 24 || b.substr(1, 3) != "PNG") return {0, 0};
  auto be32 = [&](size_t o) {
    return (uint8_t(b[o]) << 24) | (uint8_t(b[o + 1]) << 16) | (uint8_t(b[o + 2]) << 8) | uint8_t(b[o + 3]);
  };
  return {static_cast<int>(be32(16)), static_cast<int>(be32(20))};
}

TEST(Npy, RoundTripsShapeAndValues) {
  test::TempDir dir;
  std::vector<float> v = {1.5f, -2.f, 3.25f, 0.f, 1e-8f, 7.f};
  write_npy(dir / "a.npy", v, {2, 3});
  NpyArray a = read_npy(dir / "a.npy");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.data, v);
  write_npy(dir / "b.npy", v, {6});
  EXPECT_EQ(read_npy(dir / "b.npy").shape, (std::vector<std::int64_t>{6}));
  // The data starts on a 64-byte boundary, as NumPy writes it.
  EXPECT_EQ((test::read_bytes(dir / "a.npy").size() - v.size() * 4) % 64, 0u);
  EXPECT_THROW(write_npy(dir / "c.npy", v, {4}), Error);
  test::write_bytes(dir / "bad.npy", "hello");
  EXPECT_THROW(read_npy(dir / "bad.npy"), Error);
}

TEST(AtomicWrite, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  test::TempDir dir;
  io::write_file_atomically(dir / "f.txt", "old");
  EXPECT_THROW(io::write_atomically(dir / "f.txt",
                                    [](const std::filesystem::path& tmp) {
                                      test::write_bytes(tmp, "half");
                                      throw Error("test", "killed half-way");
                                    }),
               Error);
  EXPECT_EQ(test::read_bytes(dir / "f.txt"), "old");
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(Figures, WaveformAndSpectrogramArePngsOfTheAskedSize) {
  test::TempDir dir;
  auto x = synthesize_example_clip(3.0, 16000);
  plot_waveform(dir / "w.png", x, 16000, {800, 300, "test"});
  EXPECT_EQ(png_size(dir / "w.png"), std::make_pair(800, 300));
  FeatureOptions o;
  FeatureExtractor fx(o);
  plot_spectrogram(dir / "m.png", fx.log_mel(x), o, true, {1000, 400, ""});
  EXPECT_EQ(png_size(dir / "m.png"), std::make_pair(1000, 400));
  plot_spectrogram(dir / "i.png", fx.model_input(x), o, false);
  EXPECT_EQ(png_size(dir / "i.png"), std::make_pair(1200, 400));
  EXPECT_THROW(plot_waveform(dir / "e.png", std::vector<float>{}, 16000), Error);
}

}  // namespace
}  // namespace genrenet
