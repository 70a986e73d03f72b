// The files of an embedding store (genrenet embed, index build): embeddings.json (model, size, windows),
// embeddings.jsonl (a row per file) and embeddings.npy (the vectors), each a part of the input split at a
// line "--8<--". Every genrenet::Error is an answer; a store read without one has rows that are numbered
// in order and unit vectors (the checks read_embedding_store makes).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include <genrenet/genrenet.h>

#include "library/embedding_store.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  using namespace genrenet;
  const std::string input(reinterpret_cast<const char*>(data), size), cut = "\n--8<--\n";
  std::string part[3];
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t end = i < 2 ? std::min(input.find(cut, at), input.size()) : input.size();
    if (at <= input.size()) part[i] = input.substr(at, end - at);
    at = end + cut.size();
  }
  const auto dir = fuzz::input_file(data, 0, "-store");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const EmbeddingStoreFiles files = embedding_store_files(dir, false);
  fuzz::write_file(files.meta, part[0]);
  fuzz::write_file(files.list, part[1]);
  fuzz::write_file(files.matrix, part[2]);
  try {
    embedding_store_windows(files);
  } catch (const Error&) {
  }
  int dimension = 4;
  try {
    const auto meta = nlohmann::json::parse(part[0]);
    if (meta.contains("size") && meta["size"].is_number_integer()) dimension = meta["size"].get<int>();
  } catch (const nlohmann::json::exception&) {
  }
  if (dimension < 1 || dimension > 65536) return 0;
  try {
    const StoredEmbeddings s = read_embedding_store(files, dimension);
    for (size_t r = 0; r < s.rows.size(); ++r) {
      if (s.rows[r].at("row").get<std::uint64_t>() != r) std::abort();
      double norm = 0;
      for (int i = 0; i < dimension; ++i) norm += double(s.values[r * dimension + i]) * s.values[r * dimension + i];
      if (!(std::abs(norm - 1) < 1e-3)) std::abort();
    }
  } catch (const Error&) {
  }
  return 0;
}
