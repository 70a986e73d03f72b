// Feature extraction speed: decode + resample + log-mel + standardise + fixed length, per clip, on one
// thread (with a per-stage breakdown) and on several threads across files.
//
//   bench_features DIR [--threads N] [--repeat R] [--wav-dir TMP]
// With --wav-dir, every audio file under DIR is first decoded and written there as 16-bit WAV at its own
// rate (FLAC -> WAV is lossless), and the benchmark runs on those WAV files, as the reference does.
// Prints one JSON object per measurement, like ../shared/reference/pytorch_baseline.py.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/compute.h>
#include <genrenet/genrenet.h>

using namespace genrenet;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static std::vector<std::filesystem::path> audio_files(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::recursive_directory_iterator(root)) {
    auto ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() && (ext == ".wav" || ext == ".au" || ext == ".flac" || ext == ".mp3" || ext == ".ogg"))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

static void emit(nlohmann::json j) { std::printf("%s\n", j.dump().c_str()); std::fflush(stdout); }

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_features DIR [--threads N] [--repeat R] [--wav-dir TMP]\n");
    return 2;
  }
  std::filesystem::path dir = argv[1];
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int repeat = 3;
  std::string wav_dir;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--wav-dir")) wav_dir = argv[i + 1];
  }
  tune_allocator_for_batch_work();  // as the genrenet program does
  try {
    auto files = audio_files(dir);
    if (files.empty()) throw Error(dir.string(), "no audio files");
    if (!wav_dir.empty()) {
      std::vector<std::filesystem::path> wavs;
      for (auto& f : files) {
        Audio a = decode_audio(f);
        auto out = std::filesystem::path(wav_dir) / (f.stem().string() + ".wav");
        write_wav(out, a.samples, a.sample_rate);
        wavs.push_back(out);
      }
      files = wavs;
    }
    FeatureOptions opts;
    FeatureExtractor fx(opts);

    // Per-stage breakdown on this thread; the best of `repeat` passes over all files for each stage.
    double t_decode = 1e9, t_resample = 1e9, t_mel = 1e9, t_db = 1e9, t_input = 1e9, t_total = 1e9;
    for (int r = 0; r < repeat; ++r) {
      double d = 0, rs = 0, m = 0, db = 0, in = 0;
      auto start = Clock::now();
      for (auto& f : files) {
        auto t = Clock::now();
        Audio a = decode_audio(f, opts.audio.max_seconds);
        d += since(t);
        t = Clock::now();
        auto x = resample(a.samples, a.sample_rate, opts.audio.sample_rate, opts.audio.resample_quality,
                          opts.audio.resampler);
        quantize_16bit(x);
        rs += since(t);
        t = Clock::now();
        Spectrogram s = fx.mel_power(x);
        m += since(t);
        t = Clock::now();
        fx.to_db(s);
        db += since(t);
        t = Clock::now();
        standardize(s);
        s = fix_length(s, opts.frames, fix_length_offset(s.n_frames, opts.frames, opts.crop, nullptr), opts.pad);
        in += since(t);
      }
      t_total = std::min(t_total, since(start));
      t_decode = std::min(t_decode, d), t_resample = std::min(t_resample, rs), t_mel = std::min(t_mel, m);
      t_db = std::min(t_db, db), t_input = std::min(t_input, in);
    }
    const double n = static_cast<double>(files.size());
    emit({{"bench", "features_stages"}, {"impl", "genrenet"}, {"threads", 1}, {"clips", files.size()},
          {"decode_ms", t_decode / n * 1e3}, {"resample_ms", t_resample / n * 1e3},
          {"stft_mel_ms", t_mel / n * 1e3}, {"db_ms", t_db / n * 1e3},
          {"standardise_fix_ms", t_input / n * 1e3}, {"total_ms", t_total / n * 1e3}, {"cpu", cpu_model_name()}});

    // The two resamplers on the same decoded clips (the default, then libsoxr).
    for (Resampler rs : {Resampler::Polyphase, Resampler::Soxr}) {
      std::vector<Audio> decoded;
      for (auto& f : files) decoded.push_back(decode_audio(f, opts.audio.max_seconds));
      double best = 1e9;
      for (int r = 0; r < repeat; ++r) {
        auto t = Clock::now();
        for (auto& a : decoded) resample(a.samples, a.sample_rate, opts.audio.sample_rate, opts.audio.resample_quality, rs);
        best = std::min(best, since(t));
      }
      emit({{"bench", "resample"}, {"impl", rs == Resampler::Polyphase ? "genrenet-polyphase" : "libsoxr"},
            {"clips", files.size()}, {"ms_per_clip", best / n * 1e3}});
    }

    // End to end through the public entry point, files spread over threads.
    for (int nt : {1, threads}) {
      double best = 1e9;
      for (int r = 0; r < repeat; ++r) {
        std::atomic<size_t> next{0};
        auto start = Clock::now();
        auto work = [&] {
          for (size_t i; (i = next++) < files.size();) fx.model_input(files[i]);
        };
        std::vector<std::thread> pool;
        for (int t = 1; t < nt; ++t) pool.emplace_back(work);
        work();  // this thread is one of the workers
        for (auto& t : pool) t.join();
        best = std::min(best, since(start));
      }
      emit({{"bench", "features"}, {"impl", "genrenet"}, {"threads", nt}, {"clips", files.size()},
            {"seconds", best}, {"clips_per_s", n / best}, {"ms_per_clip", best / n * 1e3}});
      if (threads == 1) break;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
