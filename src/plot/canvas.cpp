#include "plot/canvas.h"

#include <cmath>
#include <cstdio>

#include <genrenet/genrenet.h>

#include "io/atomic_file.h"

namespace genrenet::plot {

std::string format_number(double v) {
  char buf[32];
  if (std::fabs(v) < 1e-12) return "0";
  if (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)
    std::snprintf(buf, sizeof buf, "%.2g", v);
  else
    std::snprintf(buf, sizeof buf, "%g", std::round(v * 1000) / 1000);
  return buf;
}

std::vector<Tick> nice_ticks(double lo, double hi, int target) {
  std::vector<Tick> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  double raw = (hi - lo) / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    ticks.push_back({v, format_number(v)});
  return ticks;
}

Canvas::Canvas(int width, int height) : width_(width), height_(height) {
  if (width < 100 || height < 80 || width > 8000 || height > 8000)
    throw Error("figure", "size must be between 100x80 and 8000x8000 pixels");
  surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  cr_ = cairo_create(surface_);
  cairo_set_source_rgb(cr_, 1, 1, 1);
  cairo_paint(cr_);
  cairo_select_font_face(cr_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
}

Canvas::~Canvas() {
  cairo_destroy(cr_);
  cairo_surface_destroy(surface_);
}

Axes Canvas::axes(double x0, double x1, double y0, double y1, double ml, double mr, double mt, double mb) const {
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  return Axes{x0, x1, y0, y1, ml, mt, width_ - ml - mr, height_ - mt - mb};
}

void Canvas::text(double x, double y, const std::string& s, double size, Align align, bool vertical) {
  cairo_save(cr_);
  cairo_set_font_size(cr_, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr_, s.c_str(), &ext);
  cairo_translate(cr_, x, y);
  if (vertical) cairo_rotate(cr_, -M_PI / 2);
  double dx = align == Align::Left ? 0 : (align == Align::Center ? -ext.width / 2 : -ext.width);
  cairo_move_to(cr_, dx - ext.x_bearing, size * 0.35);
  cairo_set_source_rgb(cr_, 0.1, 0.1, 0.1);
  cairo_show_text(cr_, s.c_str());
  cairo_restore(cr_);
}

void Canvas::title(const std::string& t) {
  if (!t.empty()) text(width_ / 2.0, 20, t, 16, Align::Center);
}

void Canvas::frame(const Axes& a, const std::vector<Tick>& xticks, const std::vector<Tick>& yticks,
                   const std::string& xlabel, const std::string& ylabel) {
  cairo_set_source_rgb(cr_, 0.2, 0.2, 0.2);
  cairo_set_line_width(cr_, 1);
  cairo_rectangle(cr_, a.left + 0.5, a.top + 0.5, a.width, a.height);
  cairo_stroke(cr_);
  for (auto& t : xticks) {
    double x = std::round(a.px(t.value)) + 0.5;
    if (x < a.left - 1 || x > a.left + a.width + 1) continue;
    cairo_move_to(cr_, x, a.top + a.height);
    cairo_line_to(cr_, x, a.top + a.height + 5);
    cairo_stroke(cr_);
    text(x, a.top + a.height + 16, t.label, 12, Align::Center);
  }
  for (auto& t : yticks) {
    double y = std::round(a.py(t.value)) + 0.5;
    if (y < a.top - 1 || y > a.top + a.height + 1) continue;
    cairo_move_to(cr_, a.left - 5, y);
    cairo_line_to(cr_, a.left, y);
    cairo_stroke(cr_);
    text(a.left - 8, y, t.label, 12, Align::Right);
  }
  if (!xlabel.empty()) text(a.left + a.width / 2, a.top + a.height + 38, xlabel, 13, Align::Center);
  if (!ylabel.empty()) text(18, a.top + a.height / 2, ylabel, 13, Align::Center, true);
}

void Canvas::image(double left, double top, double width, double height, const std::vector<Rgb>& px, int w,
                   int h, bool smooth) {
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  for (int y = 0; y < h; ++y) {
    auto* row = reinterpret_cast<uint32_t*>(data + static_cast<size_t>(y) * stride);
    for (int x = 0; x < w; ++x) {
      const Rgb& c = px[static_cast<size_t>(y) * w + x];
      row[x] = (uint32_t(c[0]) << 16) | (uint32_t(c[1]) << 8) | c[2];
    }
  }
  cairo_surface_mark_dirty(img);
  cairo_save(cr_);
  cairo_rectangle(cr_, left, top, width, height);
  cairo_clip(cr_);
  cairo_translate(cr_, left, top);
  cairo_scale(cr_, width / w, height / h);
  cairo_set_source_surface(cr_, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr_), smooth ? CAIRO_FILTER_GOOD : CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend(cairo_get_source(cr_), CAIRO_EXTEND_PAD);
  cairo_paint(cr_);
  cairo_restore(cr_);
  cairo_surface_destroy(img);
}

void Canvas::colorbar(double left, double top, double width, double height, double lo, double hi,
                      const std::string& label) {
  std::vector<Rgb> px(256);
  for (int i = 0; i < 256; ++i) px[i] = magma(1.0 - i / 255.0);
  image(left, top, width, height, px, 1, 256);
  Axes a{0, 1, lo, hi, left, top, width, height};
  cairo_set_source_rgb(cr_, 0.2, 0.2, 0.2);
  cairo_set_line_width(cr_, 1);
  cairo_rectangle(cr_, left + 0.5, top + 0.5, width, height);
  cairo_stroke(cr_);
  for (auto& t : nice_ticks(lo, hi, 5)) {
    double y = std::round(a.py(t.value)) + 0.5;
    cairo_move_to(cr_, left + width, y);
    cairo_line_to(cr_, left + width + 4, y);
    cairo_stroke(cr_);
    text(left + width + 7, y, t.label, 11);
  }
  if (!label.empty()) text(left + width + 52, top + height / 2, label, 12, Align::Center, true);
}

std::string Canvas::png_bytes() {
  cairo_surface_flush(surface_);
  std::string out;
  auto append = [](void* closure, const unsigned char* data, unsigned int n) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), n);
    return CAIRO_STATUS_SUCCESS;
  };
  cairo_status_t st = cairo_surface_write_to_png_stream(surface_, append, &out);
  if (st != CAIRO_STATUS_SUCCESS) throw Error("png", std::string("cannot encode PNG (") + cairo_status_to_string(st) + ")");
  return out;
}

void Canvas::save_png(const std::filesystem::path& path) {
  cairo_surface_flush(surface_);
  io::write_atomically(path, [&](const std::filesystem::path& tmp) {
    cairo_status_t st = cairo_surface_write_to_png(surface_, tmp.c_str());
    if (st != CAIRO_STATUS_SUCCESS)
      throw Error(path.string(), std::string("cannot write PNG (") + cairo_status_to_string(st) + ")");
  });
}

}  // namespace genrenet::plot
