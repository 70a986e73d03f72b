// The reading side of an embedding store (embed_into_store writes it, in embedding_store.cpp): its files,
// its rows checked, its window options and its model's identity. Apart from the writer so that the fuzz
// target of the store's files builds without the runtime.
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include <genrenet/genrenet.h>

#include "common/sha256.h"
#include "io/npy.h"
#include "library/embedding_store.h"
#include "io/atomic_file.h"

namespace genrenet {

EmbeddingStoreFiles embedding_store_files(const std::filesystem::path& out, bool create) {
  std::filesystem::path stem = out;
  if (out.extension() == ".npy") {
    stem.replace_extension();
  } else {
    if (create) std::filesystem::create_directories(out);
    stem = out / "embeddings";
  }
  if (create && !stem.parent_path().empty()) std::filesystem::create_directories(stem.parent_path());
  return {stem.string() + ".npy", stem.string() + ".jsonl", stem.string() + ".json"};
}

WindowOptions embedding_store_windows(const EmbeddingStoreFiles& files) {
  WindowOptions o;
  try {
    const auto w = nlohmann::json::parse(io::read_text_file(files.meta)).at("windows");
    o.windows = w.at("windows").get<bool>();
    o.window_seconds = w.at("window_s").get<double>();
    o.hop_seconds = w.at("hop_s").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(files.meta.string(), std::string("damaged window options (") + e.what() + ")");
  }
  return o;
}

StoredEmbeddings read_embedding_store(const EmbeddingStoreFiles& p, int size, bool with_values) {
  StoredEmbeddings s;
  if (!std::filesystem::exists(p.list) || !std::filesystem::exists(p.matrix)) return s;
  std::ifstream in(p.list);
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.empty()) continue;
    const std::string where = "line " + std::to_string(line_number);
    try {
      s.rows.push_back(nlohmann::json::parse(line));
      const std::string sha = s.rows.back().at("sha256").get<std::string>();
      if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw Error(p.list.string(), where + ": \"sha256\" is not a SHA-256 in hex");
      s.rows.back().at("file").get<std::string>();
      // Rows are numbered 0, 1, 2, ... in order: a duplicate, negative or skipped number is a damaged list.
      const auto& row = s.rows.back().at("row");
      if (!row.is_number_unsigned() || row.get<std::uint64_t>() != s.rows.size() - 1)
        throw Error(p.list.string(), where + ": row " + row.dump() + " where row " + std::to_string(s.rows.size() - 1) + " belongs");
    } catch (const nlohmann::json::exception& e) {
      throw Error(p.list.string(), "damaged " + where + " (" + e.what() + ")");
    }
  }
  const io::NpyLayout layout = io::read_npy_layout(p.matrix);
  if (layout.shape.size() != 2 || layout.shape[1] != size || (!with_values && layout.f64))
    throw Error(p.matrix.string(), "not a matrix of " + std::to_string(size) + "-value float32 embeddings");
  const size_t rows = std::min<size_t>(s.rows.size(), static_cast<size_t>(layout.shape[0]));
  s.rows.resize(rows);
  if (!with_values) return s;
  const NpyArray m = read_npy(p.matrix);
  s.values.assign(m.data.begin(), m.data.begin() + static_cast<std::ptrdiff_t>(rows * size));
  // Embeddings are unit vectors: a row that is not (NaN, infinite, zero) would answer every search wrongly.
  for (size_t r = 0; r < rows; ++r) {
    double norm = 0;
    for (int i = 0; i < size; ++i) norm += double(s.values[r * size + i]) * s.values[r * size + i];
    if (!(std::abs(norm - 1) < 1e-3))
      throw Error(p.matrix.string(), "row " + std::to_string(r) + " is not a unit-length embedding (" +
                                         (std::isfinite(norm) ? "length² " + std::to_string(norm) : std::string("not finite")) +
                                         "): the store is damaged; embed its files again");
  }
  return s;
}

}  // namespace genrenet
