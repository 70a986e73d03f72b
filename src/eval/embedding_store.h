// The files of an embedding store (embed_into_store, genrenet/classifier.h) and what they hold, for the code
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
// group ahead); none when the store is empty. Error naming the file when one is damaged.
StoredEmbeddings read_embedding_store(const EmbeddingStoreFiles& files, int size);

// The window options the store's embeddings were made with (its M.json), for queries and additions.
WindowOptions embedding_store_windows(const EmbeddingStoreFiles& files);

// The identity of a model's weights: the sha256 of the safetensors file's tensor bytes (everything after the
// header), so that rewriting its metadata (a calibration, int8 ranges) does not make it another model.
std::string weights_sha256(const std::filesystem::path& model_file);

}  // namespace genrenet
