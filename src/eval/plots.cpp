// The evaluation figure: the confusion matrix as a heat map (the paper's Fig. 4).
#include <algorithm>
#include <cmath>

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

}  // namespace genrenet
