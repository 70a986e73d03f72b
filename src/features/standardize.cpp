// Per-spectrogram standardisation and the fixed model length.
#include <algorithm>
#include <cmath>

#include <genrenet/genrenet.h>

namespace genrenet {

SpectrogramStats compute_stats(const Spectrogram& s) {
  SpectrogramStats st;
  if (s.data.empty()) return st;
  double sum = 0;
  st.min = st.max = s.data[0];
  for (float v : s.data) {
    sum += v;
    st.min = std::min<double>(st.min, v);
    st.max = std::max<double>(st.max, v);
  }
  st.mean = sum / s.data.size();
  double ss = 0;  // two passes: the one-pass formula loses digits on dB values around -50
  for (float v : s.data) ss += (v - st.mean) * (v - st.mean);
  st.std = s.data.size() > 1 ? std::sqrt(ss / (s.data.size() - 1)) : 0.0;
  return st;
}

void standardize(Spectrogram& s) {
  SpectrogramStats st = compute_stats(s);
  const float mean = static_cast<float>(st.mean);
  const float inv = static_cast<float>(1.0 / (st.std + 1e-6));
  for (float& v : s.data) v = (v - mean) * inv;
}

int fix_length_offset(int n_frames, int frames, CropMode crop, std::mt19937* rng) {
  if (n_frames <= frames) return 0;
  const int slack = n_frames - frames;
  switch (crop) {
    case CropMode::Start: return 0;
    case CropMode::Center: return slack / 2;
    case CropMode::Random:
      if (!rng) throw Error("crop", "random crop needs a random generator");
      return std::uniform_int_distribution<int>(0, slack)(*rng);
  }
  return slack / 2;
}

Spectrogram fix_length(const Spectrogram& s, int frames, int offset, PadMode pad) {
  if (frames < 1) throw Error("frames", "must be positive");
  if (s.n_frames < 1) throw Error("fix_length", "empty spectrogram");
  Spectrogram out{s.n_mels, frames, std::vector<float>(static_cast<size_t>(s.n_mels) * frames, 0.f)};
  for (int m = 0; m < s.n_mels; ++m) {
    const float* src = s.data.data() + static_cast<size_t>(m) * s.n_frames;
    float* dst = out.data.data() + static_cast<size_t>(m) * frames;
    if (s.n_frames >= frames) {
      std::copy_n(src + std::clamp(offset, 0, s.n_frames - frames), frames, dst);
    } else if (pad == PadMode::Zero) {
      std::copy_n(src, s.n_frames, dst);  // the rest stays 0: the standardised mean
    } else {
      for (int t = 0; t < frames; ++t) dst[t] = src[t % s.n_frames];
    }
  }
  return out;
}

Spectrogram input_from_log_mel(Spectrogram s, const FeatureOptions& o, CropMode crop, std::mt19937* rng) {
  if (o.standardize) standardize(s);
  if (s.n_frames == o.frames) return s;
  return fix_length(s, o.frames, fix_length_offset(s.n_frames, o.frames, crop, rng), o.pad);
}

std::vector<Spectrogram> window_inputs(const Spectrogram& log_mel, const FeatureOptions& o, int window_frames,
                                       int hop_frames, std::vector<int>* starts_out) {
  if (log_mel.n_frames < 1) throw Error("window_inputs", "empty spectrogram");
  std::vector<int> starts;
  std::vector<Spectrogram> out;
  if (log_mel.n_frames <= o.frames) {
    starts.push_back(0);
    out.push_back(input_from_log_mel(log_mel, o, CropMode::Center));
  } else {
    window_frames = std::clamp(window_frames, 1, o.frames);
    hop_frames = std::clamp(hop_frames, 1, window_frames);  // a longer hop would leave audio unheard
    for (int s = 0; s + window_frames < log_mel.n_frames; s += hop_frames) starts.push_back(s);
    const int last = log_mel.n_frames - window_frames;  // the end is always covered
    if (starts.empty() || starts.back() != last) starts.push_back(last);
    for (int s : starts) out.push_back(input_from_log_mel(fix_length(log_mel, window_frames, s, o.pad), o, CropMode::Center));
  }
  if (starts_out) *starts_out = std::move(starts);
  return out;
}

}  // namespace genrenet
