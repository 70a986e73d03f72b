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
#include <cmath>
#include <cstring>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/compute.h>
#include <genrenet/genrenet.h>

#include "audio/polyphase.h"
#include "common/simd.h"
#include "features/mel_filterbank.h"

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

// ---- The roofline: this CPU's measured peaks on one thread, and each stage's work against them ----

using V16 = float __attribute__((vector_size(64)));
using V8 = float __attribute__((vector_size(32)));
using V4 = float __attribute__((vector_size(16)));

// Independent multiply-add chains, enough of them to cover the FMA latency on every level: flops per second.
template <class V>
[[gnu::always_inline]] inline double fma_peak_body() {
  constexpr int kChains = 12, kWidth = sizeof(V) / sizeof(float);
  V acc[kChains], m, c;
  for (int i = 0; i < kWidth; ++i) m[i] = 0.999999f, c[i] = 1e-7f;
  for (int k = 0; k < kChains; ++k) acc[k] = m * static_cast<float>(k + 1);
  const long iters = 20'000'000;
  const auto t = Clock::now();
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) acc[k] = acc[k] * m + c;
  }
  const double s = since(t);
  volatile float sink = 0;  // keeps the chains alive
  for (int k = 0; k < kChains; ++k) sink = sink + acc[k][0];
  return 2.0 * kChains * kWidth * iters / s;
}
GENRENET_TARGET_V4 static double fma_peak_v4() { return fma_peak_body<V16>(); }
GENRENET_TARGET_V3 static double fma_peak_v3() { return fma_peak_body<V8>(); }
static double fma_peak_baseline() { return fma_peak_body<V4>(); }

// Bytes per second read by a vector sum over `bytes` (from DRAM when far larger than the caches).
template <class V>
[[gnu::always_inline]] inline double read_bandwidth_body(size_t bytes, int passes) {
  constexpr int kWidth = sizeof(V) / sizeof(float);
  std::vector<float> a(bytes / sizeof(float), 1.0f);
  V acc[4] = {};
  double best = 1e9;
  for (int p = 0; p < passes; ++p) {
    const auto t = Clock::now();
    for (size_t i = 0; i + 4 * kWidth <= a.size(); i += 4 * kWidth)
      for (int k = 0; k < 4; ++k) {
        V v;
        std::memcpy(&v, a.data() + i + k * kWidth, sizeof v);
        acc[k] += v;
      }
    best = std::min(best, since(t));
  }
  volatile float sink = acc[0][0] + acc[1][0] + acc[2][0] + acc[3][0];
  (void)sink;
  return static_cast<double>(bytes) / best;
}
GENRENET_TARGET_V4 static double read_bandwidth_v4(size_t b, int p) { return read_bandwidth_body<V16>(b, p); }
GENRENET_TARGET_V3 static double read_bandwidth_v3(size_t b, int p) { return read_bandwidth_body<V8>(b, p); }
static double read_bandwidth_baseline(size_t b, int p) { return read_bandwidth_body<V4>(b, p); }

struct Peaks {
  double flops, dram_bytes, l2_bytes;
};

static Peaks measure_peaks() {
  constexpr size_t kDram = size_t{512} << 20, kL2 = size_t{256} << 10;
  switch (simd::cpu_level()) {
    case simd::Level::V4: return {fma_peak_v4(), read_bandwidth_v4(kDram, 3), read_bandwidth_v4(kL2, 2000)};
    case simd::Level::V3: return {fma_peak_v3(), read_bandwidth_v3(kDram, 3), read_bandwidth_v3(kL2, 2000)};
    case simd::Level::Baseline: break;
  }
  return {fma_peak_baseline(), read_bandwidth_baseline(kDram, 3), read_bandwidth_baseline(kL2, 2000)};
}

// One stage of the average clip: its floating-point operations, the bytes it must at least move (its input
// read and its output written once), its measured time; and where the roofline puts it.
static nlohmann::json roofline_row(const std::string& stage, double flops, double bytes, double ms, const Peaks& peak) {
  const double compute_s = flops / peak.flops, memory_s = bytes / peak.dram_bytes;
  const double bound_ms = std::max(compute_s, memory_s) * 1e3;
  return {{"bench", "features_roofline"}, {"stage", stage}, {"mflop", flops / 1e6}, {"mbytes", bytes / 1e6},
          {"flop_per_byte", flops / bytes}, {"ms", ms}, {"gflops", flops / (ms * 1e-3) / 1e9},
          {"limit", compute_s >= memory_s ? "compute" : "memory"}, {"bound_ms", bound_ms},
          {"of_bound", bound_ms / ms}};
}

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
        // As load_audio does: rounded to 16 bits as the resampler stores its outputs.
        auto x = resample(a.samples, a.sample_rate, opts.audio.sample_rate, opts.audio.resample_quality,
                          opts.audio.resampler, opts.audio.quantize_16bit);
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

    {
      // The work of the average clip, counted from the pipeline's own sizes.
      double in_samples = 0, in_rate = 0;
      for (auto& f : files) {
        Audio a = decode_audio(f, opts.audio.max_seconds);
        in_samples += static_cast<double>(a.samples.size()) / n;
        in_rate = a.sample_rate;
      }
      const double out_samples = in_samples * opts.audio.sample_rate / in_rate;
      const PolyphaseDesign d = design_polyphase(static_cast<int>(in_rate), opts.audio.sample_rate, opts.audio.resample_quality);
      const features::MelFilterbank fb = features::MelFilterbank::build(opts);
      const double frames = 1 + std::floor(out_samples / opts.hop_length), m = opts.n_fft / 2.0;
      const double mel_values = opts.n_mels * frames, model_values = static_cast<double>(opts.n_mels) * opts.frames;
      // The FFT of n_fft/2 complex points: radix-4 butterflies of 34 flops per 4 points per stage; the split
      // into the real spectrum (14 flops a bin); the window (1 a sample); the sparse filterbank (2 a weight).
      const double fft_flops = frames * (std::log2(m) / 2 * m / 4 * 34 + (m + 1) * 14 + opts.n_fft);
      const Peaks peak = measure_peaks();
      const char* level = simd::cpu_level() == simd::Level::V4   ? "v4"
                          : simd::cpu_level() == simd::Level::V3 ? "v3"
                                                                 : "baseline";
      emit({{"bench", "features_peaks"},
            {"cpu", cpu_model_name()},
            {"simd", level},
            {"threads", 1},
            {"fma_gflops", peak.flops / 1e9},
            {"dram_read_gb_s", peak.dram_bytes / 1e9},
            {"l2_read_gb_s", peak.l2_bytes / 1e9}});
      emit(roofline_row("resample", 2.0 * out_samples * d.taps, 4 * (in_samples + out_samples), t_resample / n * 1e3, peak));
      emit(roofline_row("stft_mel", fft_flops + 2.0 * static_cast<double>(fb.weights.size()) * frames,
                        4 * (out_samples + mel_values), t_mel / n * 1e3, peak));
      emit(roofline_row("db", 25 * mel_values, 8 * mel_values, t_db / n * 1e3, peak));
      emit(roofline_row("standardise_fix", 4 * model_values, 4 * (2 * mel_values + model_values), t_input / n * 1e3, peak));
    }

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

    // A clip's samples in fresh vectors (load_audio) against buffers kept from clip to clip (what
    // model_input(path), `features` and prediction use), the two passes taking turns.
    {
      double fresh = 1e9, reused = 1e9;
      for (int r = 0; r < repeat; ++r) {
        auto t = Clock::now();
        for (auto& f : files) fx.model_input(load_audio(f, opts.audio).samples);
        fresh = std::min(fresh, since(t));
        t = Clock::now();
        for (auto& f : files) fx.model_input(f);
        reused = std::min(reused, since(t));
      }
      emit({{"bench", "features_buffers"}, {"clips", files.size()}, {"fresh_vectors_ms", fresh / n * 1e3},
            {"reused_buffers_ms", reused / n * 1e3}});
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
