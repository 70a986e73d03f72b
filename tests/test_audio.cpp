// Decoding: every supported format, downmixing, and a clear error for every kind of bad file.
#include <sndfile.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <random>

#include <genrenet/genrenet.h>

#include "audio/reused_audio.h"
#include "test_util.h"

namespace genrenet {
namespace {

using test::TempDir;

// Writes `x` (mono or interleaved) with libsndfile in the given format; returns false if unsupported.
bool write_with_sndfile(const std::filesystem::path& p, const std::vector<float>& x, int rate, int channels,
                        int format) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  if (!sf_format_check(&info)) return false;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  if (!f) return false;
  sf_writef_float(f, x.data(), static_cast<sf_count_t>(x.size() / channels));
  sf_close(f);
  return true;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

struct FormatCase {
  const char* name;
  const char* ext;
  int format;
  double tolerance;  // against the written samples
  bool lossy;
};

void PrintTo(const FormatCase& c, std::ostream* os) { *os << c.name; }

class DecodeFormat : public ::testing::TestWithParam<FormatCase> {};

TEST_P(DecodeFormat, DecodesWhatWasWritten) {
  const FormatCase& c = GetParam();
  TempDir dir;
  auto x = test::sine(440, 1.0, 22050, 0.4);
  auto path = dir / (std::string("tone.") + c.ext);
  ASSERT_TRUE(write_with_sndfile(path, x, 22050, 1, c.format)) << c.name << " cannot be written here";
  Audio a = decode_audio(path);
  EXPECT_EQ(a.sample_rate, 22050);
  EXPECT_EQ(a.source_channels, 1);
  if (c.lossy) {
    // Lossy codecs add encoder delay and padding: check length loosely and the tone's level.
    EXPECT_NEAR(static_cast<double>(a.samples.size()), x.size(), 3000.0);
    double rms = 0;
    for (size_t i = 2000; i < 18000 && i < a.samples.size(); ++i) rms += a.samples[i] * a.samples[i];
    rms = std::sqrt(rms / 16000);
    EXPECT_NEAR(rms, 0.4 / std::sqrt(2.0), 0.03);
  } else {
    ASSERT_EQ(a.samples.size(), x.size());
    EXPECT_LT(max_abs_diff(a.samples, x, x.size()), c.tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, DecodeFormat,
    ::testing::Values(FormatCase{"wav8", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 1.0 / 100, false},
                      FormatCase{"wav16", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1.0 / 30000, false},
                      FormatCase{"wav24", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 1e-6, false},
                      FormatCase{"wav32", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, 1e-7, false},
                      FormatCase{"wavfloat", "wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1e-9, false},
                      FormatCase{"au16", "au", SF_FORMAT_AU | SF_FORMAT_PCM_16, 1.0 / 30000, false},
                      FormatCase{"flac16", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1.0 / 30000, false},
                      FormatCase{"ogg", "ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0, true},
                      FormatCase{"mp3", "mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 0, true}),
    [](const auto& info) { return std::string(info.param.name); });

// Issue 25, item 10: MP3 goes through libmpg123 directly (libsndfile's decoder printed unnamed "Note:" lines).
TEST(Decode, Mp3GivesLibsndfilesSamplesAndNamesDamage) {
  TempDir dir;
  std::vector<float> stereo;
  for (float v : test::sine(440, 3.0, 44100, 0.4)) stereo.push_back(v), stereo.push_back(0.5f * v);
  ASSERT_TRUE(write_with_sndfile(dir / "tone.mp3", stereo, 44100, 2, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III));
  // libsndfile's own decode, mixed to mono as genrenet mixes.
  SF_INFO info{};
  SNDFILE* sf = sf_open((dir / "tone.mp3").c_str(), SFM_READ, &info);
  ASSERT_NE(sf, nullptr);
  std::vector<float> frames(static_cast<size_t>(info.frames) * 2 + 100000);
  const auto got = sf_readf_float(sf, frames.data(), static_cast<sf_count_t>(frames.size() / 2));
  sf_close(sf);
  std::vector<float> mono(static_cast<size_t>(got));
  for (size_t i = 0; i < mono.size(); ++i) mono[i] = (frames[2 * i] + frames[2 * i + 1]) * 0.5f;
  const Audio a = decode_audio(dir / "tone.mp3");
  EXPECT_EQ(a.sample_rate, 44100);
  EXPECT_EQ(a.source_channels, 2);
  EXPECT_EQ(a.samples, mono) << "not libsndfile's samples";
  // Garbage in the middle of the stream: decoded past, as players (and libsndfile) do, with one warning
  // that names the file; nothing else on stderr.
  std::string bytes = test::read_bytes(dir / "tone.mp3");
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 3000; ++i) bytes[i] = static_cast<char>(i * 7919 % 251);
  test::write_bytes(dir / "damaged.mp3", bytes);
  ::testing::internal::CaptureStderr();
  const Audio d = decode_audio(dir / "damaged.mp3");
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_GT(d.samples.size(), a.samples.size() / 2);
  EXPECT_NE(said.find("warning: " + (dir / "damaged.mp3").string() + ": damaged MPEG data at"), std::string::npos) << said;
  EXPECT_EQ(said.find("Note:"), std::string::npos) << said;
  EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 1) << said;
  // Through a program's own log callback instead (genrenet.h): the level, the message without its prefix,
  // and nothing on stderr; the default comes back when the callback is cleared.
  std::vector<std::pair<LogLevel, std::string>> logged;
  const LogCallback before = set_log_callback([&](LogLevel level, const std::string& m) { logged.emplace_back(level, m); });
  EXPECT_FALSE(before);
  ::testing::internal::CaptureStderr();
  decode_audio(dir / "damaged.mp3");
  const std::string quiet = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(set_log_callback({}));
  EXPECT_EQ(quiet, "");
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].first, LogLevel::Warning);
  EXPECT_EQ(logged[0].second.rfind((dir / "damaged.mp3").string() + ": damaged MPEG data at", 0), 0u) << logged[0].second;
  EXPECT_EQ(log_line(LogLevel::Warning, logged[0].second), said.substr(0, said.size() - 1));
}

TEST(Decode, StereoIsMixedToTheMeanOfTheChannels) {
  TempDir dir;
  std::vector<float> x;
  for (int i = 0; i < 1000; ++i) {
    x.push_back(0.5f);
    x.push_back(-0.25f);
  }
  ASSERT_TRUE(write_with_sndfile(dir / "st.wav", x, 16000, 2, SF_FORMAT_WAV | SF_FORMAT_FLOAT));
  Audio a = decode_audio(dir / "st.wav");
  EXPECT_EQ(a.source_channels, 2);
  ASSERT_EQ(a.samples.size(), 1000u);
  for (float v : a.samples) EXPECT_FLOAT_EQ(v, 0.125f);
}

// load_audio and the loader into reused buffers refuse `p` with the same error.
void expect_error(const std::filesystem::path& p, const std::string& fragment, AudioOptions opts = {}) {
  std::string first;
  try {
    load_audio(p, opts);
    ADD_FAILURE() << "no error for " << p;
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), p.string());
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    first = e.what();
  }
  try {
    load_audio_reusing_buffers(p, opts);
    ADD_FAILURE() << "no error from load_audio_reusing_buffers for " << p;
  } catch (const Error& e) {
    EXPECT_EQ(e.what(), first);
  }
}

TEST(DecodeErrors, MissingFile) {
  TempDir dir;
  expect_error(dir / "nope.wav", "no such file");
}

TEST(DecodeErrors, AFileThatIsNotAudioIsNamedForWhatItIs) {
  // Issue 25, item 10: a PNG named .mp3 was "File does not exist or is not a regular file (possibly a pipe?)".
  TempDir dir;
  test::write_bytes(dir / "cover.mp3", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(600, '\x01'));
  expect_error(dir / "cover.mp3", "not audio: its content is a PNG image");
  test::write_bytes(dir / "doc.wav", "%PDF-1.7\n" + std::string(600, 'x'));
  expect_error(dir / "doc.wav", "a PDF document");
  std::filesystem::create_symlink(dir / "nowhere.flac", dir / "link.flac");
  expect_error(dir / "link.flac", "is a symbolic link to " + (dir / "nowhere.flac").string() + ", which does not exist");
  try {
    const std::string png = test::read_bytes(dir / "cover.mp3");
    decode_audio(std::span(reinterpret_cast<const unsigned char*>(png.data()), png.size()), "upload.mp3");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a PNG image"), std::string::npos) << e.what();
  }
}

TEST(DecodeErrors, Directory) {
  TempDir dir;
  expect_error(dir.path(), "is a directory");
}

TEST(DecodeErrors, DevicesAndPipesAreRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "pipe.wav").c_str(), 0600), 0);
  expect_error(dir / "pipe.wav", "not a regular file");
  try {
    decode_audio("/dev/zero");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos);
  }
}

TEST(DecodeErrors, EmptyFile) {
  TempDir dir;
  test::write_bytes(dir / "empty.wav", "");
  expect_error(dir / "empty.wav", "empty file");
}

TEST(DecodeErrors, NotAudio) {
  TempDir dir;
  test::write_bytes(dir / "notes.wav", "These are not the samples you are looking for.\n");
  expect_error(dir / "notes.wav", "not a readable audio file");
}

TEST(DecodeErrors, TruncatedWav) {
  TempDir dir;
  write_wav(dir / "full.wav", test::sine(440, 1.0, 16000), 16000);
  std::string bytes = test::read_bytes(dir / "full.wav");
  test::write_bytes(dir / "cut.wav", bytes.substr(0, bytes.size() / 2));
  expect_error(dir / "cut.wav", "truncated");
}

TEST(DecodeErrors, TruncatedFlac) {
  TempDir dir;
  ASSERT_TRUE(write_with_sndfile(dir / "full.flac", test::sine(440, 2.0, 16000), 16000, 1,
                                 SF_FORMAT_FLAC | SF_FORMAT_PCM_16));
  std::string bytes = test::read_bytes(dir / "full.flac");
  test::write_bytes(dir / "cut.flac", bytes.substr(0, bytes.size() / 2));
  expect_error(dir / "cut.flac", "truncated");
}

// `seconds` of noise at 16 kHz, written as 16-bit FLAC to dir/full.flac; returns the samples.
std::vector<float> write_noise_flac(const TempDir& dir, int seconds, unsigned seed) {
  std::vector<float> x(static_cast<size_t>(16000) * seconds);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.1f);
  for (auto& v : x) v = noise(rng);
  EXPECT_TRUE(write_with_sndfile(dir / "full.flac", x, 16000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16));
  return x;
}

TEST(DecodeErrors, AStreamEndingASliverEarlyIsAcceptedTruncationIsNot) {
  // Players play files whose decoder stops a fraction of a percent short of the header's count (an Ogg page
  // after the end-of-stream flag, say): genrenet takes them, with a warning; a real cut stays an error.
  TempDir dir;
  const std::vector<float> x = write_noise_flac(dir, 60, 5);
  const std::string bytes = test::read_bytes(dir / "full.flac");
  test::write_bytes(dir / "sliver.flac", bytes.substr(0, bytes.size() - bytes.size() / 500));  // the last 0.2%
  Audio a = decode_audio(dir / "sliver.flac");
  EXPECT_LT(a.samples.size(), x.size());
  EXPECT_GE(a.samples.size(), x.size() * 99 / 100);
  test::write_bytes(dir / "cut.flac", bytes.substr(0, bytes.size() * 9 / 10));  // the last 10%
  expect_error(dir / "cut.flac", "truncated");
}

// FLAC goes through libFLAC directly (libsndfile only opens it): the samples are exactly what libsndfile's own
// reading gives (x / 2^(bits - 1), mixed to mono the same way) for 8, 16 and 24 bits, mono and stereo, from a
// file and from memory; a damaged frame with audio after it is an error naming the file.
std::vector<float> libsndfile_mono(const std::filesystem::path& p) {
  SF_INFO info{};
  SNDFILE* f = sf_open(p.c_str(), SFM_READ, &info);
  if (!f) return {};
  std::vector<float> interleaved(static_cast<size_t>(info.frames) * info.channels), mono(info.frames);
  sf_readf_float(f, interleaved.data(), info.frames);
  sf_close(f);
  const float inv = 1.0f / static_cast<float>(info.channels);
  for (size_t i = 0; i < mono.size(); ++i) {
    float sum = 0;
    for (int c = 0; c < info.channels; ++c) sum += interleaved[i * info.channels + c];
    mono[i] = sum * inv;
  }
  return mono;
}

TEST(DecodeFlac, SamplesAreLibsndfilesFromFilesAndMemory) {
  TempDir dir;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> level(-0.9f, 0.9f);
  for (int channels : {1, 2})
    for (int subtype : {SF_FORMAT_PCM_S8, SF_FORMAT_PCM_16, SF_FORMAT_PCM_24}) {
      std::vector<float> x(static_cast<size_t>(22050 * 3 + 123) * channels);
      for (auto& v : x) v = level(rng);
      const auto path = dir / ("x" + std::to_string(channels) + "-" + std::to_string(subtype) + ".flac");
      ASSERT_TRUE(write_with_sndfile(path, x, 22050, channels, SF_FORMAT_FLAC | subtype));
      const std::vector<float> expected = libsndfile_mono(path);
      ASSERT_EQ(expected.size(), x.size() / channels);
      const Audio a = decode_audio(path);
      EXPECT_EQ(a.sample_rate, 22050);
      EXPECT_EQ(a.source_channels, channels);
      EXPECT_EQ(a.samples, expected) << path;
      const std::string bytes = test::read_bytes(path);
      const Audio m = decode_audio(std::span(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()), "upload.flac");
      EXPECT_EQ(m.samples, expected) << path;
    }
}

TEST(DecodeFlac, ADamagedFrameIsAnErrorNamingTheFile) {
  TempDir dir;
  write_noise_flac(dir, 20, 8);
  std::string bytes = test::read_bytes(dir / "full.flac");
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 64; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  test::write_bytes(dir / "damaged.flac", bytes);
  expect_error(dir / "damaged.flac", "corrupt audio data (FLAC: ");
}

TEST(DecodeErrors, HeaderOnlyWavHasNoSamples) {
  TempDir dir;
  write_wav(dir / "full.wav", test::sine(440, 0.1, 16000), 16000);
  std::string bytes = test::read_bytes(dir / "full.wav");
  std::string header = bytes.substr(0, 44);
  header[40] = header[41] = header[42] = header[43] = 0;  // data chunk of 0 bytes
  test::write_bytes(dir / "hdr.wav", header);
  try {
    decode_audio(dir / "hdr.wav");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), (dir / "hdr.wav").string());
  }
}

TEST(DecodeErrors, NaNSamples) {
  TempDir dir;
  auto x = test::sine(440, 0.5, 16000);
  x[4000] = std::nanf("");
  write_wav(dir / "nan.wav", x, 16000, 1, /*float_samples=*/true);
  expect_error(dir / "nan.wav", "NaN sample at frame 4000");
}

TEST(DecodeErrors, InfiniteSamples) {
  TempDir dir;
  auto x = test::sine(440, 0.5, 16000);
  x[100] = INFINITY;
  write_wav(dir / "inf.wav", x, 16000, 1, true);
  expect_error(dir / "inf.wav", "infinite sample");
}

TEST(DecodeErrors, AbsurdSampleRate) {
  TempDir dir;
  write_wav(dir / "ok.wav", test::sine(440, 0.1, 16000), 16000);
  std::string bytes = test::read_bytes(dir / "ok.wav");
  // Sample rate field at byte 24 (little endian): 7 Hz; byte rate at 28 to match.
  bytes[24] = 7, bytes[25] = bytes[26] = bytes[27] = 0;
  bytes[28] = 14, bytes[29] = bytes[30] = bytes[31] = 0;
  test::write_bytes(dir / "slow.wav", bytes);
  expect_error(dir / "slow.wav", "absurd sample rate 7 Hz");
}

TEST(DecodeErrors, LongerThanTheCap) {
  TempDir dir;
  write_wav(dir / "long.wav", test::sine(440, 3.0, 8000), 8000);
  AudioOptions o;
  o.max_seconds = 2.0;
  expect_error(dir / "long.wav", "too long", o);
  o.max_seconds = 4.0;
  EXPECT_NO_THROW(load_audio(dir / "long.wav", o));
}

// An MP3 file is read as it decodes, not whole into memory first: the same samples as from its bytes in memory
// (an upload), damaged or not, and a stream longer than the limit refused once that much is decoded.
TEST(DecodeErrors, Mp3FileReadAsItDecodesGivesItsBytesSamples) {
  TempDir dir;
  ASSERT_TRUE(write_with_sndfile(dir / "tone.mp3", test::sine(440, 4.0, 22050, 0.4), 22050, 1,
                                 SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III));
  std::string bytes = test::read_bytes(dir / "tone.mp3");
  auto span_of = [](const std::string& b) { return std::span(reinterpret_cast<const unsigned char*>(b.data()), b.size()); };
  const Audio file = decode_audio(dir / "tone.mp3");
  const Audio memory = decode_audio(span_of(bytes), "tone.mp3");
  ASSERT_GT(file.samples.size(), 80000u);
  EXPECT_EQ(file.samples, memory.samples);
  EXPECT_EQ(file.sample_rate, memory.sample_rate);
  // Damage: both decode past it (a second pass from the start of the same input), the same samples.
  for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 2000; ++i) bytes[i] = static_cast<char>(i * 7919 % 251);
  test::write_bytes(dir / "damaged.mp3", bytes);
  ::testing::internal::CaptureStderr();
  const Audio damaged_file = decode_audio(dir / "damaged.mp3");
  const Audio damaged_memory = decode_audio(span_of(bytes), "damaged.mp3");
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(damaged_file.samples, damaged_memory.samples);
  EXPECT_GT(damaged_file.samples.size(), file.samples.size() / 2);
  // Over the limit: refused, from the file (both loaders) as from memory.
  AudioOptions two_seconds;
  two_seconds.max_seconds = 2.0;
  expect_error(dir / "tone.mp3", "too long", two_seconds);
  try {
    decode_audio(span_of(test::read_bytes(dir / "tone.mp3")), "tone.mp3", 2.0);
    ADD_FAILURE() << "a 4-s MP3 in memory was not refused at a 2-s limit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too long"), std::string::npos) << e.what();
  }
  // A long recording over the limit is refused after reading about as much of it as the limit (the bytes
  // this process read, from the kernel's count; the decoder reads 64 KB at a time), not after reading all of it.
  ASSERT_TRUE(write_with_sndfile(dir / "long.mp3", test::sine(440, 900.0, 22050, 0.4), 22050, 1,
                                 SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III));
  auto bytes_read = [] {
    std::ifstream io("/proc/self/io");
    std::string key;
    long long value = -1;
    while (io >> key >> value)
      if (key == "rchar:") return value;
    return -1LL;
  };
  const long long before = bytes_read();
  if (before < 0) GTEST_SKIP() << "no /proc/self/io here";
  EXPECT_THROW(decode_audio(dir / "long.mp3", 2.0), Error);
  const auto size = static_cast<long long>(std::filesystem::file_size(dir / "long.mp3"));
  ASSERT_GT(size, 800 * 1024);
  EXPECT_LT(bytes_read() - before, 160 * 1024) << "of a " << size << "-byte file";
}

TEST(LoadAudio, ResamplesAndQuantises) {
  TempDir dir;
  write_wav(dir / "a.wav", test::sine(1000, 2.0, 22050), 22050);
  Audio a = load_audio(dir / "a.wav");
  EXPECT_EQ(a.sample_rate, 16000);
  EXPECT_EQ(a.source_sample_rate, 22050);
  EXPECT_EQ(a.samples.size(), 32000u);
  for (float v : a.samples) EXPECT_EQ(v * 32768.0f, std::nearbyint(v * 32768.0f));
}

// The buffers kept from file to file give exactly load_audio's samples, whatever came before them: a longer
// file, a shorter one, another rate, a failure.
TEST(LoadAudio, ReusedBuffersGiveLoadAudiosSamples) {
  TempDir dir;
  write_wav(dir / "long.wav", test::sine(1000, 3.0, 22050, 0.5), 22050);
  write_wav(dir / "short.wav", test::sine(300, 0.7, 22050, 0.3), 22050);
  write_wav(dir / "same-rate.wav", test::sine(700, 1.3, 16000, 0.4), 16000);
  std::vector<float> stereo;
  for (float v : test::sine(500, 1.1, 44100, 0.6)) stereo.insert(stereo.end(), {v, -0.5f * v});
  ASSERT_TRUE(write_with_sndfile(dir / "stereo.wav", stereo, 44100, 2, SF_FORMAT_WAV | SF_FORMAT_FLOAT));
  ASSERT_TRUE(write_with_sndfile(dir / "tone.flac", test::sine(440, 2.1, 22050, 0.4), 22050, 1,
                                 SF_FORMAT_FLAC | SF_FORMAT_PCM_16));
  write_wav(dir / "odd-rate.wav", test::sine(440, 0.9, 11025, 0.4), 11025);
  // Longer than the buffers kept (2^23 samples; 400 s is 8.8 M): its decoded buffer is given back once
  // resampled, the resampled one at the next call.
  write_wav(dir / "seven-minutes.wav", test::sine(220, 400.0, 22050, 0.2), 22050);
  test::write_bytes(dir / "broken.wav", "RIFF....WAVEnot really");
  AudioOptions unrounded;
  unrounded.quantize_16bit = false;
  AudioOptions soxr;
  soxr.resampler = Resampler::Soxr;
  const std::vector<std::pair<std::string, AudioOptions>> sequence = {
      {"long.wav", {}}, {"short.wav", {}}, {"same-rate.wav", {}}, {"broken.wav", {}}, {"stereo.wav", {}},
      {"tone.flac", {}}, {"long.wav", unrounded}, {"odd-rate.wav", soxr}, {"short.wav", {}}, {"same-rate.wav", unrounded},
      {"seven-minutes.wav", {}}, {"short.wav", {}}, {"seven-minutes.wav", {}}, {"same-rate.wav", {}}};
  for (const auto& [name, options] : sequence) {
    const std::filesystem::path path = dir / name;
    if (name == "broken.wav") {
      EXPECT_THROW(load_audio_reusing_buffers(path, options), Error);
      continue;
    }
    const Audio fresh = load_audio(path, options);
    const ReusedAudio& reused = load_audio_reusing_buffers(path, options);
    EXPECT_EQ(reused.sample_rate, fresh.sample_rate) << name;
    EXPECT_EQ(reused.source_sample_rate, fresh.source_sample_rate) << name;
    EXPECT_EQ(reused.source_channels, fresh.source_channels) << name;
    ASSERT_EQ(reused.samples.size(), fresh.samples.size()) << name;
    EXPECT_TRUE(std::equal(fresh.samples.begin(), fresh.samples.end(), reused.samples.begin())) << name;
    EXPECT_DOUBLE_EQ(reused.duration_seconds(), fresh.duration_seconds()) << name;
  }
}

TEST(LoadAudio, QuantisationClipsToTheInt16Range) {
  std::vector<float> x = {1.5f, -1.5f, 0.49999f / 32768.0f, 1.0f};
  quantize_16bit(x);
  EXPECT_FLOAT_EQ(x[0], 32767.0f / 32768.0f);
  EXPECT_FLOAT_EQ(x[1], -1.0f);
  EXPECT_FLOAT_EQ(x[2], 0.0f);
  EXPECT_FLOAT_EQ(x[3], 32767.0f / 32768.0f);
}

TEST(LoadAudio, RejectsABadTargetRate) {
  TempDir dir;
  write_wav(dir / "a.wav", test::sine(1000, 0.2, 16000), 16000);
  AudioOptions o;
  o.sample_rate = 10;
  EXPECT_THROW(load_audio(dir / "a.wav", o), Error);
}

TEST(ExampleClip, IsMusicLikeAndDeterministic) {
  auto a = synthesize_example_clip(2.0, 16000, 3);
  auto b = synthesize_example_clip(2.0, 16000, 3);
  ASSERT_EQ(a.size(), 32000u);
  EXPECT_EQ(a, b);
  double peak = 0;
  for (float v : a) peak = std::max(peak, std::fabs(double(v)));
  EXPECT_GT(peak, 0.2);
  EXPECT_LE(peak, 1.0);
}

}  // namespace
}  // namespace genrenet
