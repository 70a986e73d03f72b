// The training curves of a run (curves.png): loss and accuracy per epoch, training and validation.
#include <algorithm>
#include <cmath>

#include <genrenet/train.h>

#include "plot/canvas.h"

namespace genrenet {

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
