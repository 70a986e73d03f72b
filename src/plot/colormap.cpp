#include <algorithm>
#include <cmath>

#include "plot/canvas.h"

namespace genrenet::plot {

#include "plot/magma_table.inc"

Rgb magma(double t) {
  if (!std::isfinite(t)) t = 0;
  int i = static_cast<int>(std::lround(std::clamp(t, 0.0, 1.0) * 255));
  return {kMagma[i][0], kMagma[i][1], kMagma[i][2]};
}

}  // namespace genrenet::plot
