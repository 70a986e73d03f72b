// Resampling: the polyphase resampler where the ratio allows, libsoxr otherwise. Designs are kept per
// (rates, quality), since a 22.05 -> 16 kHz table took ~3 ms to compute here, as long as resampling a clip.
// libsoxr's input is fed in small chunks: handing soxr a whole 30-s clip at once makes its internal FIFO
// grow by realloc and memmove, which was measured 4x slower than 4096-sample chunks.
#include <soxr.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <string>

#include <genrenet/genrenet.h>

#include "audio/polyphase.h"

namespace genrenet {
namespace {

unsigned long soxr_recipe(ResampleQuality q) {
  switch (q) {
    case ResampleQuality::Low: return SOXR_LQ;
    case ResampleQuality::Medium: return SOXR_MQ;
    case ResampleQuality::High: return SOXR_HQ;
    case ResampleQuality::VeryHigh: return SOXR_VHQ;
  }
  return SOXR_HQ;
}

struct SoxrDeleter {
  void operator()(soxr* s) const { soxr_delete(s); }
};

// One design per (rates, quality), made once and shared by every thread (designs are read-only; a caller
// keeps its design alive while the cache may drop it).
std::shared_ptr<const PolyphaseDesign> cached_design(int from_rate, int to_rate, ResampleQuality quality) {
  static std::mutex mutex;
  static std::map<std::tuple<int, int, ResampleQuality>, std::shared_ptr<const PolyphaseDesign>> designs;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(from_rate, to_rate, quality);
  if (auto it = designs.find(key); it != designs.end()) return it->second;
  if (designs.size() >= 64) designs.clear();  // a server fed every rate there is keeps a bounded number
  auto d = std::make_shared<const PolyphaseDesign>(design_polyphase(from_rate, to_rate, quality));
  designs.emplace(key, d);
  return d;
}

std::vector<float> resample_with_soxr(std::span<const float> in, int from_rate, int to_rate, ResampleQuality quality) {
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_quality_spec_t q = soxr_quality_spec(soxr_recipe(quality), 0);
  // One thread per call: genrenet parallelises across files, which scales better than within one.
  soxr_runtime_spec_t rt = soxr_runtime_spec(1);
  soxr_error_t err = nullptr;
  std::unique_ptr<soxr, SoxrDeleter> s(soxr_create(from_rate, to_rate, 1, &err, &io, &q, &rt));
  if (!s || err) throw Error("resample", std::string("libsoxr: ") + (err ? err : "cannot create resampler"));

  const double ratio = static_cast<double>(to_rate) / from_rate;
  // Room for the whole output plus one chunk, so that the buffer never grows (and is never copied).
  std::vector<float> out(static_cast<size_t>(std::ceil(in.size() * ratio)) + 4096 + 64);
  size_t produced = 0, consumed = 0;
  const size_t chunk = 4096;
  auto room = [&] {
    if (out.size() - produced < 4096) out.resize(out.size() + out.size() / 2 + 4096);
    return out.size() - produced;
  };
  while (consumed < in.size()) {
    size_t len = std::min(chunk, in.size() - consumed), idone = 0, odone = 0;
    size_t space = room();
    err = soxr_process(s.get(), in.data() + consumed, len, &idone, out.data() + produced, space, &odone);
    if (err) throw Error("resample", std::string("libsoxr: ") + err);
    consumed += idone;
    produced += odone;
  }
  for (;;) {  // flush: a null input tells soxr the stream has ended
    size_t odone = 0;
    size_t space = room();
    err = soxr_process(s.get(), nullptr, 0, nullptr, out.data() + produced, space, &odone);
    if (err) throw Error("resample", std::string("libsoxr: ") + err);
    if (odone == 0) break;
    produced += odone;
  }
  out.resize(produced);
  return out;
}

}  // namespace

std::vector<float> resample(std::span<const float> in, int from_rate, int to_rate, ResampleQuality quality,
                            Resampler resampler) {
  return resample(in, from_rate, to_rate, quality, resampler, false);
}

namespace {

void check_rates(int from_rate, int to_rate) {
  if (from_rate <= 0 || to_rate <= 0)
    throw Error("resample", "sample rates must be positive (" + std::to_string(from_rate) + " -> " +
                                std::to_string(to_rate) + ")");
}

// The polyphase design these rates and options resample with; null where libsoxr does it (or nothing does:
// equal rates).
std::shared_ptr<const PolyphaseDesign> polyphase_design_for(int from_rate, int to_rate, ResampleQuality quality,
                                                            Resampler resampler) {
  if (from_rate == to_rate || resampler != Resampler::Polyphase || !polyphase_supported(from_rate, to_rate, quality))
    return nullptr;
  return cached_design(from_rate, to_rate, quality);
}

}  // namespace

std::vector<float> resample(std::span<const float> in, int from_rate, int to_rate, ResampleQuality quality,
                            Resampler resampler, bool quantize) {
  check_rates(from_rate, to_rate);
  if (auto design = polyphase_design_for(from_rate, to_rate, quality, resampler))
    return resample_polyphase(in, *design, quantize);
  std::vector<float> out = from_rate == to_rate ? std::vector<float>(in.begin(), in.end())
                                                : resample_with_soxr(in, from_rate, to_rate, quality);
  if (quantize) quantize_16bit(out);
  return out;
}

void resample_into(std::span<const float> in, int from_rate, int to_rate, ResampleQuality quality,
                   Resampler resampler, bool quantize, simd::ScratchFloats& out) {
  check_rates(from_rate, to_rate);
  if (auto design = polyphase_design_for(from_rate, to_rate, quality, resampler)) {
    out.resize(static_cast<size_t>(polyphase_output_count(static_cast<std::int64_t>(in.size()), *design)));
    resample_polyphase_into(in, *design, quantize, out);
    return;
  }
  // Equal rates and libsoxr make a vector of their own anyway: resample()'s, copied.
  const std::vector<float> other = resample(in, from_rate, to_rate, quality, resampler, quantize);
  out.assign(other.begin(), other.end());
}

}  // namespace genrenet
