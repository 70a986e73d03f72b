// .npy files, atomic writes and the PNG figures.
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <numeric>
#include <thread>

#include <genrenet/genrenet.h>

#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/write_behind.h"
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

// Damaged headers found by fuzz_npy (each crashed or asked for gigabytes before): an Error naming the file.
TEST(Npy, DamagedHeadersAreErrorsBeforeAnyAllocation) {
  test::TempDir dir;
  auto npy_with_header = [&](const std::string& dict) {
    std::string header = dict;
    header.resize(118, ' ');
    header += '\n';
    return std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 0xff) + char(header.size() >> 8) + header +
           std::string(16, '\0');
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "bad .npy shape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, ), }", "bad .npy shape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), }", "more than the file holds"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, ), }", "more than the file holds"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, ), }", "little-endian"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, ), }", "Fortran"},
      {"{'fortran_order': False, 'shape': (2, ), }", "no descr"}};
  for (const auto& [dict, words] : cases) {
    test::write_bytes(dir / "d.npy", npy_with_header(dict));
    try {
      read_npy(dir / "d.npy");
      ADD_FAILURE() << dict;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << dict << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("d.npy"), std::string::npos) << e.what();
    }
  }
  test::write_bytes(dir / "ok.npy", npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"));
  EXPECT_EQ(read_npy(dir / "ok.npy").shape, (std::vector<std::int64_t>{2, 2}));
  // A header length beyond the file (the input that overflowed std::regex's stack).
  test::write_bytes(dir / "long.npy", std::string("\x93NUMPY\x01\x00\x54\x54{'descr'", 17));
  EXPECT_THROW(read_npy(dir / "long.npy"), Error);
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

// Pieces written one after the other (a .npy header and the values behind it, without copying them into one
// buffer first), synced or not; a write the file system refuses is an Error naming the file and the reason,
// with the old file intact and no temporary left.
TEST(AtomicWrite, PiecesMakeOneFileAndARefusedWriteNamesIt) {
  test::TempDir dir;
  const std::string_view parts[] = {"head", "", "er and data"};
  io::write_file_atomically(dir / "p.txt", parts, /*synced=*/false);
  EXPECT_EQ(test::read_bytes(dir / "p.txt"), "header and data");
  // More pieces than one writev takes (IOV_MAX, 1024 here), empty ones among them.
  std::vector<std::string> pieces;
  std::string joined;
  for (int i = 0; i < 3000; ++i) {
    pieces.push_back(i % 7 == 0 ? "" : std::to_string(i) + ",");
    joined += pieces.back();
  }
  const std::vector<std::string_view> views(pieces.begin(), pieces.end());
  io::write_file_atomically(dir / "many.txt", views, /*synced=*/false);
  EXPECT_EQ(test::read_bytes(dir / "many.txt"), joined);
  std::vector<float> v(3000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5f * static_cast<float>(i) - 7.f;
  write_npy(dir / "synced.npy", v, {30, 100});
  io::write_npy_file(dir / "unsynced.npy", v, {30, 100}, /*synced=*/false);
  EXPECT_EQ(test::read_bytes(dir / "unsynced.npy"), test::read_bytes(dir / "synced.npy"));
  EXPECT_EQ(read_npy(dir / "unsynced.npy").data, v);
  try {
    io::write_npy_file(dir / "wrong.npy", v, {7}, false);
    ADD_FAILURE() << "a shape that does not fit was written";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wrong.npy"), std::string::npos) << e.what();
  }

  // A file-size limit makes write() fail with EFBIG, as a full disk fails with ENOSPC.
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    io::write_npy_file(dir / "p.txt", v, {30, 100}, /*synced=*/false);
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find("p.txt"), std::string::npos) << message;
  EXPECT_NE(message.find(std::strerror(EFBIG)), std::string::npos) << message;
  EXPECT_EQ(test::read_bytes(dir / "p.txt"), "header and data");
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

// Files written behind the computation (genrenet features): jobs run in the order given, on a thread that is not
// the caller's, and a caller that is `depth` jobs ahead waits instead of queueing more; finish() returns when
// every job has run.
TEST(WriteBehind, JobsRunInOrderOnItsThreadAndACallerDepthJobsAheadWaits) {
  io::WriteBehind writer(/*depth=*/2);
  std::mutex m;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  auto job = [&](int k) {
    return std::packaged_task<void()>([&, k] {
      std::lock_guard lock(m);
      order.push_back(k);
      threads.push_back(std::this_thread::get_id());
    });
  };
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  writer.submit(std::packaged_task<void()>([released] { released.wait(); }));  // held: the writer is busy
  writer.submit(job(0));  // two jobs wait now: the held one and this one
  std::atomic<bool> third_queued = false;
  std::thread caller([&] {
    writer.submit(job(1));
    third_queued = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(third_queued) << "a third job was queued while two waited";
  release.set_value();
  caller.join();
  EXPECT_TRUE(third_queued);
  for (int k = 2; k < 50; ++k) writer.submit(job(k));
  writer.finish();
  std::vector<int> expected(50);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(order, expected);
  for (auto id : threads) EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_THROW(writer.submit(job(50)), std::logic_error);
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
