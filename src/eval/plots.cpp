// The evaluation figures: the confusion matrix as a heat map (the paper's Fig. 4) and training curves.
#include <algorithm>
#include <cmath>

#include <genrenet/train.h>

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

void plot_training_curves(const std::filesystem::path& png, const std::vector<EpochMetrics>& h) {
  if (h.empty()) throw Error(png.string(), "no epochs to plot");
  plot::Canvas c(1200, 420);
  c.title("Training curves");
  const double e0 = h.front().epoch - (h.size() == 1 ? 1 : 0), e1 = h.back().epoch;
  double max_loss = 0;
  for (auto& m : h) max_loss = std::max({max_loss, m.train_loss, m.val_loss});
  max_loss = max_loss > 0 && std::isfinite(max_loss) ? max_loss * 1.05 : 1;
  plot::Axes loss_ax{e0, e1, 0, max_loss, 80, 50, 480, 300};
  plot::Axes acc_ax{e0, e1, 0, 1, 680, 50, 480, 300};
  cairo_t* cr = c.cr();
  auto line = [&](const plot::Axes& a, double r, double g, double b, auto value, bool dashed) {
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 2);
    if (dashed) {
      double d[] = {6, 4};
      cairo_set_dash(cr, d, 2, 0);
    }
    for (size_t i = 0; i < h.size(); ++i) {
      double x = a.px(h[i].epoch), y = a.py(value(h[i]));
      if (i == 0) cairo_move_to(cr, x, y);
      else cairo_line_to(cr, x, y);
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  };
  line(loss_ax, 0.13, 0.35, 0.62, [](const EpochMetrics& m) { return m.train_loss; }, false);
  line(loss_ax, 0.85, 0.37, 0.0, [](const EpochMetrics& m) { return m.val_loss; }, true);
  line(acc_ax, 0.13, 0.35, 0.62, [](const EpochMetrics& m) { return m.train_acc; }, false);
  line(acc_ax, 0.85, 0.37, 0.0, [](const EpochMetrics& m) { return m.val_acc; }, true);
  auto xticks = plot::nice_ticks(e0, e1, 8);
  c.frame(loss_ax, xticks, plot::nice_ticks(0, max_loss, 5), "epoch", "loss");
  c.frame(acc_ax, xticks, plot::nice_ticks(0, 1, 5), "epoch", "");
  c.text(640, 200, "accuracy", 13, plot::Align::Center, true);
  c.text(loss_ax.left + 10, loss_ax.top + 14, "training (solid), validation (dashed)", 12);
  c.save_png(png);
}

}  // namespace genrenet
