// The files of an embedding store (embed_into_store, genrenet/library.h) and what they hold, for the code
// that reads a store besides the one that writes it (the similarity index, src/library).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>

namespace genrenet {

struct EmbeddingStoreFiles {
  std::filesystem::path matrix, list, meta;  // M.npy, M.jsonl, M.json
};
// M is `out` without ".npy", or out/embeddings for a folder (created when `create`).
EmbeddingStoreFiles embedding_store_files(const std::filesystem::path& out, bool create);

struct StoredEmbeddings {
  std::vector<nlohmann::json> rows;  // {row, file, sha256, duration_s, windows}
  std::vector<float> values;         // rows x size
};
// The rows that both the list and the matrix hold (a kill between their two writes leaves the matrix a
// group ahead); none when the store is empty. Error naming the file when one is damaged. Without
// `with_values` only the list is read (values stays empty; the matrix's header is checked): for indexes that
// read the few rows they need from disk.
StoredEmbeddings read_embedding_store(const EmbeddingStoreFiles& files, int size, bool with_values = true);

// The window options the store's embeddings were made with (its M.json), for queries and additions.
WindowOptions embedding_store_windows(const EmbeddingStoreFiles& files);

// What a store's M.json says of the embeddings `classifier` makes with windows `w`: the model (file and
// identity), embedding size, feature options and windows.
nlohmann::json embedding_store_meta(const Classifier& classifier, const WindowOptions& w);

// The one rule of comparable embeddings (SimilarityIndex::check_compatible): `stored`, a store's M.json
// (named `subject` in errors), against what `classifier` makes; the same weights and feature options, and
// with `windows` given (an addition), the same windows.
void check_same_embedding_space(const nlohmann::json& stored, const std::string& subject, const Classifier& classifier,
                                const WindowOptions* windows);

// The same rule between two stores' M.json (`made` the one kept; `compare_windows` for merging rows).
void check_same_embedding_space(const nlohmann::json& stored, const std::string& subject, const nlohmann::json& made,
                                bool compare_windows);

// Writes a store's matrix, then its list (each atomically).
void write_embedding_store(const EmbeddingStoreFiles& files, const StoredEmbeddings& store, int size);

}  // namespace genrenet
