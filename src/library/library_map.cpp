// A picture of a library: its embeddings projected on their first two principal components, coloured by
// genre, as JSON (the web page draws it and names the file under the pointer) and as a PNG.
#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <genrenet/library.h>

#include "common/option_tables.h"
#include "common/text.h"
#include "library/audio_tags.h"
#include "plot/canvas.h"

namespace genrenet {
namespace {

// The rows drawn: all, or max_points spread evenly over them.
std::vector<int> rows_to_draw(int rows, int max_points) {
  std::vector<int> out;
  const int n = std::min(rows, max_points);
  for (int i = 0; i < n; ++i) out.push_back(static_cast<int>(static_cast<long long>(i) * rows / n));
  return out;
}

std::string genre_of(const std::string& file, const std::string& by) {
  if (by == "folder") return std::filesystem::path(file).parent_path().filename().string();
  try {
    const std::vector<std::string> genres = normalise_genres(tags::read_labels(file).genres);
    return genres.empty() ? "untagged" : genres.front();
  } catch (const Error&) {
    return "unreadable";
  }
}

// Tableau's ten, then the same hues darker: genres beyond twenty repeat colours.
plot::Rgb colour(size_t k) {
  static const plot::Rgb base[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                   {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  const plot::Rgb c = base[k % 10];
  const double f = (k / 10) % 2 ? 0.6 : 1.0;
  return {static_cast<std::uint8_t>(c[0] * f), static_cast<std::uint8_t>(c[1] * f), static_cast<std::uint8_t>(c[2] * f)};
}

}  // namespace

const options::Table<LibraryMapOptions>& library_map_options_table() {
  static const auto t =
      options::Table<LibraryMapOptions>("map option", "Library map")
          .integer("max_points", &LibraryMapOptions::max_points, {2, 10000000}, "An even sample of the files beyond this",
                   "--max-points")
          .text("by", &LibraryMapOptions::by, {"auto", "tag", "folder"},
                "The colour: tag (each file's genre tag), folder (its folder's name) or auto (tags; folders when no file has one)",
                "--by");
  return t;
}

LibraryMap map_library(const SimilarityIndex& index, const LibraryMapOptions& o) {
  library_map_options_table().validate(o);
  LibraryMap map;
  map.rows = index.size();
  if (map.rows < 2) throw Error("map", "needs at least two embeddings in the index, got " + std::to_string(map.rows));
  const std::vector<int> rows = rows_to_draw(map.rows, o.max_points);
  const int d = index.dimension();
  torch::Tensor x = torch::empty({static_cast<long>(rows.size()), d}, torch::kFloat64);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<float> e = index.embedding(rows[i]);
    x[static_cast<long>(i)].copy_(torch::from_blob(e.data(), {d}, torch::kFloat32).to(torch::kFloat64));
  }
  // Principal components from the covariance (d x d), however many rows: the two largest eigenvectors.
  x = x - x.mean(0);
  const torch::Tensor covariance = x.t().matmul(x) / static_cast<double>(rows.size());
  const std::tuple<torch::Tensor, torch::Tensor> eigen = torch::linalg_eigh(covariance, "L");  // ascending
  const torch::Tensor& values = std::get<0>(eigen);
  const torch::Tensor axes = std::get<1>(eigen).slice(1, d - 2, d).flip(1);
  const torch::Tensor xy = x.matmul(axes).to(torch::kFloat32).contiguous();
  const double total = values.sum().item<double>();
  const double shown = values.slice(0, d - 2, d).sum().item<double>();
  map.explained = total > 0 ? shown / total : 0;
  std::map<std::string, int> count;
  const float* p = xy.data_ptr<float>();
  bool any_tag = false;
  for (size_t i = 0; i < rows.size(); ++i) {
    LibraryMapPoint point{p[2 * i], p[2 * i + 1], rows[i], index.file(rows[i]), ""};
    point.genre = genre_of(point.file, o.by == "folder" ? "folder" : "tag");
    any_tag = any_tag || (point.genre != "untagged" && point.genre != "unreadable");
    map.points.push_back(std::move(point));
  }
  // "auto": a library without a single genre tag (GTZAN's layout, say) is coloured by its folders.
  for (auto& point : map.points) {
    if (o.by == "auto" && !any_tag) point.genre = genre_of(point.file, "folder");
    ++count[point.genre];
  }
  for (auto& [g, n] : count) map.genres.push_back(g);
  std::stable_sort(map.genres.begin(), map.genres.end(), [&](auto& a, auto& b) { return count[a] > count[b]; });
  return map;
}

std::string LibraryMap::to_json() const {
  nlohmann::json pts = nlohmann::json::array();
  for (auto& p : points)
    pts.push_back({{"x", p.x}, {"y", p.y}, {"row", p.row}, {"file", utf8_safe(p.file)}, {"genre", utf8_safe(p.genre)}});
  return nlohmann::json({{"rows", rows}, {"explained", explained}, {"genres", genres}, {"points", pts}}).dump();
}

void LibraryMap::save_png(const std::filesystem::path& png, const std::string& title) const {
  if (points.empty()) throw Error(png.string(), "no points to draw");
  float x0 = points[0].x, x1 = x0, y0 = points[0].y, y1 = y0;
  for (auto& p : points) x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  const float pad_x = std::max(1e-6f, (x1 - x0) * 0.04f), pad_y = std::max(1e-6f, (y1 - y0) * 0.04f);
  plot::Canvas c(1000, 760);
  const plot::Axes a = c.axes(x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y, 70, 210, 48, 56);
  c.title(title.empty() ? std::to_string(points.size()) + " files: their embeddings' first two principal components"
                        : title);
  c.frame(a, plot::nice_ticks(a.x0, a.x1), plot::nice_ticks(a.y0, a.y1),
          "component 1", "component 2 (together " + std::to_string(static_cast<int>(std::lround(100 * explained))) + "% of the variance)");
  std::map<std::string, size_t> index_of;
  for (size_t k = 0; k < genres.size(); ++k) index_of[genres[k]] = k;
  cairo_t* cr = c.cr();
  const double radius = points.size() > 5000 ? 1.5 : points.size() > 500 ? 2.5 : 4;
  for (auto& p : points) {
    const plot::Rgb rgb = colour(index_of[p.genre]);
    cairo_set_source_rgba(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, 0.75);
    cairo_arc(cr, a.px(p.x), a.py(p.y), radius, 0, 2 * M_PI);
    cairo_fill(cr);
  }
  // The legend: the genres by size, as many as fit.
  const double left = a.left + a.width + 24;
  for (size_t k = 0; k < genres.size() && k < 32; ++k) {
    const double y = a.top + 10 + 20.0 * static_cast<double>(k);
    const plot::Rgb rgb = colour(k);
    cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
    cairo_arc(cr, left, y, 5, 0, 2 * M_PI);
    cairo_fill(cr);
    c.text(left + 12, y + 4, k == 31 && genres.size() > 32 ? "(and " + std::to_string(genres.size() - 31) + " more)" : genres[k], 12);
  }
  c.save_png(png);
}

}  // namespace genrenet
