// The evaluation figures: the confusion matrix as a heat map (the paper's Fig. 4) and the reliability diagram.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <genrenet/evaluate.h>

#include "plot/canvas.h"

namespace genrenet {

void plot_confusion(const std::filesystem::path& png, const Evaluation& e, const std::string& title) {
  const int k = static_cast<int>(e.classes.size());
  if (k == 0) throw Error(png.string(), "no classes to plot");
  const int cell = std::clamp(560 / k, 24, 64);
  const int left = 120, top = 50, bottom = 110;
  plot::Canvas c(left + cell * k + 40, top + cell * k + bottom);
  c.title(title.empty() ? "Confusion matrix" : title);
  cairo_t* cr = c.cr();
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  for (int t = 0; t < k; ++t) {
    int row_total = 0;
    for (int p = 0; p < k; ++p) row_total += e.confusion[t][p];
    for (int p = 0; p < k; ++p) {
      const int n = e.confusion[t][p];
      // Colour by the share of the true class's clips, so that classes of different sizes compare.
      const double share = row_total ? static_cast<double>(n) / row_total : 0;
      plot::Rgb rgb = plot::magma(0.15 + 0.85 * share);
      if (n == 0) rgb = {245, 245, 245};
      cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
      cairo_rectangle(cr, left + p * cell, top + t * cell, cell - 1, cell - 1);
      cairo_fill(cr);
      if (n > 0) {
        cairo_set_font_size(cr, std::max(9, cell / 3));
        std::string s = std::to_string(n);
        cairo_text_extents_t ext;
        cairo_text_extents(cr, s.c_str(), &ext);
        const double v = share > 0.55 ? 0.0 : 1.0;  // dark text on bright cells
        cairo_set_source_rgb(cr, v, v, v);
        cairo_move_to(cr, left + p * cell + (cell - ext.width) / 2 - ext.x_bearing, top + t * cell + (cell + ext.height) / 2);
        cairo_show_text(cr, s.c_str());
      }
    }
    c.text(left - 8, top + t * cell + cell / 2.0, e.classes[t], 12, plot::Align::Right);
  }
  for (int p = 0; p < k; ++p) {
    cairo_save(cr);
    cairo_translate(cr, left + p * cell + cell / 2.0 + 4, top + k * cell + 8);
    cairo_rotate(cr, M_PI / 4);
    cairo_set_font_size(cr, 12);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_move_to(cr, 0, 0);
    cairo_show_text(cr, e.classes[p].c_str());
    cairo_restore(cr);
  }
  c.text(left + k * cell / 2.0, top + k * cell + bottom - 14, "predicted", 13, plot::Align::Center);
  c.text(16, top + k * cell / 2.0, "true", 13, plot::Align::Center, true);
  c.save_png(png);
}

void plot_reliability(const std::filesystem::path& png, const CalibrationReport& before, const CalibrationReport& after,
                      const std::string& title) {
  plot::Canvas c(640, 610);
  c.title(title.empty() ? "Reliability diagram" : title);
  const plot::Axes a{0, 1, 0, 1, 80, 50, 520, 420};
  cairo_t* cr = c.cr();
  // Perfect calibration: accuracy equals confidence.
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  cairo_set_line_width(cr, 1);
  double dash[] = {5, 4};
  cairo_set_dash(cr, dash, 2, 0);
  cairo_move_to(cr, a.px(0), a.py(0));
  cairo_line_to(cr, a.px(1), a.py(1));
  cairo_stroke(cr);
  cairo_set_dash(cr, nullptr, 0, 0);
  // Each report's bins as bars of its accuracy (before: wide and pale; after: narrow and dark) with the
  // bin's mean confidence marked, so that the gap between the two is what ECE sums.
  auto bars = [&](const CalibrationReport& r, double inset, double red, double green, double blue, double alpha) {
    for (const auto& b : r.bins) {
      if (!b.count) continue;
      const double x0 = a.px(b.lower) + inset, x1 = a.px(b.upper) - inset;
      cairo_set_source_rgba(cr, red, green, blue, alpha);
      cairo_rectangle(cr, x0, a.py(b.accuracy), x1 - x0, a.py(0) - a.py(b.accuracy));
      cairo_fill(cr);
      cairo_set_source_rgb(cr, red * 0.6, green * 0.6, blue * 0.6);
      cairo_set_line_width(cr, 2);
      cairo_move_to(cr, x0, a.py(b.confidence));
      cairo_line_to(cr, x1, a.py(b.confidence));
      cairo_stroke(cr);
    }
  };
  bars(before, 1, 0.85, 0.55, 0.3, 0.45);
  bars(after, 8, 0.13, 0.35, 0.62, 0.8);
  c.frame(a, plot::nice_ticks(0, 1, 5), plot::nice_ticks(0, 1, 5), "confidence (top probability)", "accuracy");
  char legend[160];
  std::snprintf(legend, sizeof legend, "before (temperature 1): ECE %.3f, NLL %.3f", before.ece, before.nll);
  cairo_set_source_rgba(cr, 0.85, 0.55, 0.3, 0.6);
  // The legend below the axes: bars may stand anywhere inside them.
  const double y = a.top + a.height + 62;
  cairo_rectangle(cr, a.left, y - 10, 14, 10);
  cairo_fill(cr);
  c.text(a.left + 20, y, legend, 12);
  std::snprintf(legend, sizeof legend, "after (calibrated): ECE %.3f, NLL %.3f", after.ece, after.nll);
  cairo_set_source_rgba(cr, 0.13, 0.35, 0.62, 0.8);
  cairo_rectangle(cr, a.left, y + 8, 14, 10);
  cairo_fill(cr);
  c.text(a.left + 20, y + 18, legend, 12);
  c.text(a.left, y + 38, "bars: accuracy per bin; lines: the bin's mean confidence; dashed: perfect calibration", 11);
  c.save_png(png);
}

}  // namespace genrenet
