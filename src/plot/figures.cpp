// The paper's figures: the waveform (Fig. 1) and the log-mel spectrogram (Fig. 2).
#include <algorithm>
#include <cmath>

#include <genrenet/genrenet.h>

#include "features/mel_filterbank.h"
#include "plot/canvas.h"

namespace genrenet {

void plot_waveform(const std::filesystem::path& png, std::span<const float> x, int sample_rate,
                   const FigureOptions& fig) {
  if (x.empty() || sample_rate <= 0) throw Error(png.string(), "no samples to plot");
  plot::Canvas c(fig.width, fig.height);
  const double seconds = static_cast<double>(x.size()) / sample_rate;
  plot::Axes a = c.axes(0, seconds, -1.05, 1.05);
  c.title(fig.title.empty() ? "Waveform" : fig.title);
  // One vertical stroke per pixel column from the column's minimum to its maximum: exact at any zoom.
  const int cols = static_cast<int>(a.width);
  cairo_t* cr = c.cr();
  cairo_set_source_rgb(cr, 0.13, 0.35, 0.62);
  cairo_set_line_width(cr, 1);
  for (int col = 0; col < cols; ++col) {
    size_t lo = static_cast<size_t>(static_cast<double>(col) / cols * x.size());
    size_t hi = std::max(lo + 1, static_cast<size_t>(static_cast<double>(col + 1) / cols * x.size()));
    hi = std::min(hi, x.size());
    auto [mn, mx] = std::minmax_element(x.begin() + lo, x.begin() + hi);
    double px = a.left + col + 0.5;
    cairo_move_to(cr, px, a.py(std::clamp<double>(*mx, -1.05, 1.05)) - 0.5);
    cairo_line_to(cr, px, a.py(std::clamp<double>(*mn, -1.05, 1.05)) + 0.5);
  }
  cairo_stroke(cr);
  c.frame(a, plot::nice_ticks(0, seconds, 10), plot::nice_ticks(-1, 1, 4), "time (s)", "amplitude");
  c.save_png(png);
}

namespace {

// A pixel of a spectrogram in grey with a map value in [0, 1] over it: the map's magma colour, more opaque
// where the map is higher, so that the spectrogram stays readable where the map is low.
plot::Rgb overlay(double grey, double map) {
  const plot::Rgb hot = plot::magma(map);
  const double alpha = 0.8 * std::clamp(map, 0.0, 1.0), g = 255 * std::clamp(grey, 0.0, 1.0) * 0.85;
  plot::Rgb p;
  for (int k = 0; k < 3; ++k) p[k] = static_cast<std::uint8_t>(std::lround((1 - alpha) * g + alpha * hot[k]));
  return p;
}

// One spectrogram panel inside `a`: the image (with `map` over it when given), Hz ticks at mel positions,
// seconds on x.
void draw_spectrogram(plot::Canvas& c, const plot::Axes& a, const Spectrogram& s, const FeatureOptions& o, double lo,
                      double hi, const Spectrogram* map = nullptr) {
  std::vector<plot::Rgb> px(static_cast<size_t>(s.n_mels) * s.n_frames);
  for (int m = 0; m < s.n_mels; ++m)
    for (int t = 0; t < s.n_frames; ++t)  // row 0 of the image is the highest band
      px[static_cast<size_t>(s.n_mels - 1 - m) * s.n_frames + t] =
          map ? overlay((s.at(m, t) - lo) / (hi - lo), map->at(m, t)) : plot::magma((s.at(m, t) - lo) / (hi - lo));
  c.image(a.left, a.top, a.width, a.height, px, s.n_frames, s.n_mels);
  // Frequency ticks in Hz at their mel positions. Band m is centred on mel edge m+1 of n_mels+2 edges.
  const double m_min = features::hz_to_mel(o.f_min, o.mel_scale);
  const double m_max = features::hz_to_mel(o.effective_f_max(), o.mel_scale);
  const double step = (m_max - m_min) / (o.n_mels + 1);
  std::vector<plot::Tick> yticks;
  for (double hz : {0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0}) {
    if (hz < o.f_min || hz > o.effective_f_max()) continue;
    double y = (features::hz_to_mel(hz, o.mel_scale) - m_min) / step - 0.5;
    yticks.push_back({std::clamp(y, 0.0, static_cast<double>(s.n_mels)), plot::format_number(hz)});
  }
  const double seconds = static_cast<double>(s.n_frames) * o.hop_length / o.audio.sample_rate;
  c.frame(a, plot::nice_ticks(0, seconds, 10), yticks, "time (s)", "frequency (Hz, mel scale)");
}

}  // namespace

namespace {
void draw_spectrogram_figure(plot::Canvas& c, const Spectrogram& s, const FeatureOptions& o, bool values_in_db,
                             const FigureOptions& fig) {
  const double seconds = static_cast<double>(s.n_frames) * o.hop_length / o.audio.sample_rate;
  plot::Axes a = c.axes(0, seconds, 0, s.n_mels, 80, 110);
  c.title(fig.title.empty() ? "Log-mel spectrogram" : fig.title);
  SpectrogramStats st = compute_stats(s);
  // dB: an 80-dB window below the peak, as librosa's specshow; standardised values: their full range.
  double hi = st.max, lo = values_in_db ? std::max(st.min, st.max - 80.0) : st.min;
  if (hi <= lo) hi = lo + 1;
  draw_spectrogram(c, a, s, o, lo, hi);
  c.colorbar(a.left + a.width + 14, a.top, 16, a.height, lo, hi, values_in_db ? "dB" : "standardised");
}
}  // namespace

void plot_spectrogram(const std::filesystem::path& png, const Spectrogram& s, const FeatureOptions& o,
                      bool values_in_db, const FigureOptions& fig) {
  if (s.n_mels < 1 || s.n_frames < 1) throw Error(png.string(), "empty spectrogram");
  plot::Canvas c(fig.width, fig.height);
  draw_spectrogram_figure(c, s, o, values_in_db, fig);
  c.save_png(png);
}

std::string spectrogram_png(const Spectrogram& s, const FeatureOptions& o, bool values_in_db, const FigureOptions& fig) {
  if (s.n_mels < 1 || s.n_frames < 1) throw Error("spectrogram", "empty spectrogram");
  plot::Canvas c(fig.width, fig.height);
  draw_spectrogram_figure(c, s, o, values_in_db, fig);
  return c.png_bytes();
}

std::string spectrogram_overlay_png(const Spectrogram& s, const Spectrogram& map, const FeatureOptions& o,
                                    const std::string& map_label, const FigureOptions& fig) {
  if (s.n_mels < 1 || s.n_frames < 1) throw Error("spectrogram", "empty spectrogram");
  if (map.n_mels != s.n_mels || map.n_frames != s.n_frames) throw Error("spectrogram", "the map's shape differs");
  plot::Canvas c(fig.width, fig.height);
  const double seconds = static_cast<double>(s.n_frames) * o.hop_length / o.audio.sample_rate;
  plot::Axes a = c.axes(0, seconds, 0, s.n_mels, 80, 110);
  c.title(fig.title);
  const SpectrogramStats st = compute_stats(s);
  draw_spectrogram(c, a, s, o, st.min, st.max > st.min ? st.max : st.min + 1, &map);
  c.colorbar(a.left + a.width + 14, a.top, 16, a.height, 0, 1, map_label);
  return c.png_bytes();
}

void plot_augment_preview(const std::filesystem::path& png, const Spectrogram& before, const Spectrogram& after,
                          const FeatureOptions& o, const FigureOptions& fig) {
  if (before.data.empty() || after.data.empty()) throw Error(png.string(), "empty spectrogram");
  plot::Canvas c(fig.width, fig.height * 2);
  SpectrogramStats st = compute_stats(before);
  double lo = st.min, hi = st.max > st.min ? st.max : st.min + 1;
  const double seconds = static_cast<double>(before.n_frames) * o.hop_length / o.audio.sample_rate;
  const double panel = fig.height;
  plot::Axes top = c.axes(0, seconds, 0, before.n_mels, 80, 110, 44, panel + 56);
  plot::Axes bottom = c.axes(0, seconds, 0, after.n_mels, 80, 110, panel + 44, 56);
  c.title(fig.title.empty() ? "SpecAugment: before (top) and after (bottom)" : fig.title);
  draw_spectrogram(c, top, before, o, lo, hi);
  draw_spectrogram(c, bottom, after, o, lo, hi);
  c.colorbar(top.left + top.width + 14, top.top, 16, bottom.top + bottom.height - top.top, lo, hi, "standardised");
  c.save_png(png);
}

}  // namespace genrenet
