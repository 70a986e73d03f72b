// A small plotting layer over cairo: a canvas, data-to-pixel axes, ticks, labels, images and PNG output.
// Every figure in genrenet (waveforms, spectrograms, confusion matrices, training curves) is drawn with it.
#pragma once

#include <cairo.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace genrenet::plot {

using Rgb = std::array<std::uint8_t, 3>;
Rgb magma(double t);  // t in [0, 1], clamped

struct Tick {
  double value;
  std::string label;
};
std::vector<Tick> nice_ticks(double lo, double hi, int target = 6);
std::string format_number(double v);

struct Axes {
  double x0, x1, y0, y1;         // data range
  double left, top, width, height;  // pixel rectangle
  double px(double x) const { return left + (x - x0) / (x1 - x0) * width; }
  double py(double y) const { return top + height - (y - y0) / (y1 - y0) * height; }
};

enum class Align { Left, Center, Right };

class Canvas {
 public:
  Canvas(int width, int height);
  ~Canvas();
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;

  cairo_t* cr() { return cr_; }
  int width() const { return width_; }
  int height() const { return height_; }

  Axes axes(double x0, double x1, double y0, double y1, double margin_left = 80, double margin_right = 30,
            double margin_top = 44, double margin_bottom = 56) const;
  void title(const std::string& text);
  void text(double x, double y, const std::string& s, double size = 13, Align align = Align::Left,
            bool vertical = false);
  // Frame, ticks with labels and axis labels.
  void frame(const Axes& a, const std::vector<Tick>& xticks, const std::vector<Tick>& yticks,
             const std::string& xlabel, const std::string& ylabel);
  // Draws an RGB image of w x h pixels (row 0 at the top) stretched over the rectangle.
  void image(double left, double top, double width, double height, const std::vector<Rgb>& pixels, int w,
             int h, bool smooth = true);
  // A vertical colour bar in magma, with ticks from lo to hi.
  void colorbar(double left, double top, double width, double height, double lo, double hi,
                const std::string& label);
  void save_png(const std::filesystem::path& path);
  std::string png_bytes();  // the PNG file in memory

 private:
  int width_, height_;
  cairo_surface_t* surface_;
  cairo_t* cr_;
};

}  // namespace genrenet::plot
