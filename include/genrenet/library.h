// genrenet/library.h — "sounds like" search over a music library's embeddings, on FAISS.
//
//   genrenet::SimilarityIndex index = genrenet::SimilarityIndex::open("library-index");
//   for (auto& n : index.search(classifier.embed_file("song.flac").values, 10)) ...
//
// An index is a folder: the embedding store of `embed_into_store` (embeddings.npy, .jsonl, .json:
// genrenet/classifier.h) and index.faiss, an inner-product index over its rows (exact by default; IVF for
// large libraries). Embeddings are unit length, so the inner product is the cosine similarity. The index
// remembers the model whose embeddings it holds (the sha256 of its weights and its feature options).
// This header needs no LibTorch or FAISS headers.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <genrenet/genrenet.h>

namespace genrenet {

struct SimilarityIndexOptions {
  bool ivf = false;  // an IVF index (approximate, for large libraries) instead of the exact flat one
  int nlist = 0;     // IVF cells; 0: about sqrt(rows)
  int nprobe = 8;    // IVF cells searched per query, [1, nlist]
};

struct Neighbour {
  int row = 0;
  std::string file, sha256;
  double duration_seconds = 0;
  float similarity = 0;  // cosine, [-1, 1]
};

struct IndexBuildReport {
  int rows = 0, dimension = 0;
  std::string kind;       // "flat" or "ivf<nlist>"
  double seconds = 0;
  double recall_at_10 = 1;  // of an IVF index against the exact one, on up to 1000 of its own rows as queries
};

class SimilarityIndex {
 public:
  // (Re)builds index.faiss over every row of the embedding store in `folder` (Error when it holds none).
  static IndexBuildReport build(const std::filesystem::path& folder, const SimilarityIndexOptions& options = {});
  // Opens a built index; Error naming the folder when a file is missing or damaged.
  static SimilarityIndex open(const std::filesystem::path& folder);
  ~SimilarityIndex();
  SimilarityIndex(SimilarityIndex&&) noexcept;
  SimilarityIndex& operator=(SimilarityIndex&&) noexcept;

  int size() const;
  int dimension() const;
  std::string model_file() const;      // the model file that made the embeddings (as it was given)
  std::string weights_sha256() const;  // that model's identity (see embed_into_store)
  std::string features_json() const;   // its feature options
  // The k most similar rows to a unit-length query (its size must be dimension()), most similar first,
  // leaving out rows whose content is `exclude_sha256` (the query file itself). Safe from several threads.
  std::vector<Neighbour> search(std::span<const float> query, int k, const std::string& exclude_sha256 = "") const;

 private:
  SimilarityIndex();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genrenet
