// A collection's embeddings on disk: a matrix, a list of what each row is, and the model that made them.
#include <cmath>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "common/sha256.h"
#include "common/text.h"
#include "common/failpoint.h"
#include "library/embedding_store.h"
#include "io/atomic_file.h"

namespace genrenet {

namespace {

nlohmann::json windows_json(const WindowOptions& w) {
  return {{"windows", w.windows}, {"window_s", w.window_seconds}, {"hop_s", w.hop_seconds}};
}

}  // namespace

nlohmann::json embedding_store_meta(const Classifier& clf, const WindowOptions& w) {
  return {{"model", clf.identity().file.string()},
          {"weights_sha256", clf.identity().weights_sha256},
          {"size", clf.embedding_size()},
          {"features", nlohmann::json::parse(clf.features().to_json())},
          {"windows", windows_json(w)}};
}

void check_same_embedding_space(const nlohmann::json& stored, const std::string& subject, const nlohmann::json& made,
                                bool compare_windows) {
  const std::string stored_model = stored.value("model", std::string("?")), model = made.value("model", std::string("?"));
  if (stored.value("weights_sha256", "") != made.value("weights_sha256", ""))
    throw Error(subject, "holds embeddings made by another model (" + stored_model + "), not by " + model +
                             ": embeddings of two models cannot be compared (a query must be embedded by the same model)");
  if (stored.value("features", nlohmann::json()) != made.value("features", nlohmann::json()))
    throw Error(subject, "holds embeddings made from other feature options than " + model +
                             "'s: they cannot be compared (a query must be embedded by the same model)");
  if (compare_windows && stored.contains("windows") && stored["windows"] != made.value("windows", nlohmann::json()))
    throw Error(subject, "holds embeddings made with other windows (" + stored["windows"].dump() +
                             "): add with the same window options, or into another folder");
}

void check_same_embedding_space(const nlohmann::json& stored, const std::string& subject, const Classifier& clf,
                                const WindowOptions* windows) {
  check_same_embedding_space(stored, subject, embedding_store_meta(clf, windows ? *windows : WindowOptions{}), windows != nullptr);
}

void write_embedding_store(const EmbeddingStoreFiles& p, const StoredEmbeddings& store, int size) {
  // The matrix first: a kill before the list is written leaves rows the list does not name (ignored).
  write_npy(p.matrix, store.values, {static_cast<std::int64_t>(store.rows.size()), size});
  std::string lines;
  for (auto& r : store.rows) lines += r.dump() + "\n";
  io::write_file_atomically(p.list, lines);
}

EmbedStoreReport embed_into_store(const Classifier& clf, const std::vector<std::filesystem::path>& files,
                                  const std::filesystem::path& out,
                                  const WindowOptions& w, const std::function<void(std::size_t)>& done, int group) {
  if (group < 1) throw Error("group", "must be at least 1");
  const EmbeddingStoreFiles p = embedding_store_files(out, true);
  const int size = clf.embedding_size();
  const nlohmann::json meta = embedding_store_meta(clf, w);
  if (std::filesystem::exists(p.meta)) {
    nlohmann::json old;
    try {
      old = nlohmann::json::parse(io::read_text_file(p.meta));
    } catch (const nlohmann::json::exception& e) {
      throw Error(p.meta.string(), std::string("damaged (") + e.what() + ")");
    }
    check_same_embedding_space(old, p.meta.string(), clf, &w);
  }
  StoredEmbeddings store = read_embedding_store(p, size);
  std::set<std::string> have;
  for (auto& r : store.rows) have.insert(r["sha256"].get<std::string>());

  EmbedStoreReport report;
  report.matrix = p.matrix;
  std::vector<std::filesystem::path> todo;
  std::vector<std::string> todo_sha;
  for (const auto& f : files) {
    std::string sha;
    try {
      sha = sha256_file(f);
    } catch (const std::exception& e) {
      report.errors.push_back(e.what());
      if (done) done(1);
      continue;
    }
    if (!have.insert(sha).second) {  // already in the store, or twice in this list
      ++report.skipped;
      if (done) done(1);
      continue;
    }
    todo.push_back(f);
    todo_sha.push_back(sha);
  }
  io::write_file_atomically(p.meta, meta.dump(1));
  for (size_t begin = 0; begin < todo.size(); begin += static_cast<size_t>(group)) {
    const size_t end = std::min(todo.size(), begin + static_cast<size_t>(group));
    const std::vector<std::filesystem::path> part(todo.begin() + begin, todo.begin() + end);
    const auto results = clf.embed_files(part, w, done);
    for (size_t i = 0; i < results.size(); ++i) {
      const FileEmbedding& r = results[i];
      if (!r.error.empty()) {
        report.errors.push_back(r.error);
        continue;
      }
      store.rows.push_back({{"row", store.rows.size()}, {"file", utf8_safe(r.file.string())}, {"sha256", todo_sha[begin + i]},
                            {"duration_s", r.result.duration_seconds}, {"windows", r.result.window_count}});
      store.values.insert(store.values.end(), r.result.values.begin(), r.result.values.end());
      ++report.embedded;
    }
    write_embedding_store(p, store, size);
    failpoint("store-written", p.list.string());  // a kill here: the next run goes on from these rows
  }
  if (!std::filesystem::exists(p.matrix)) write_npy(p.matrix, store.values, {0, size});
  if (!std::filesystem::exists(p.list)) io::write_file_atomically(p.list, "");
  report.rows = static_cast<int>(store.rows.size());
  return report;
}

}  // namespace genrenet
