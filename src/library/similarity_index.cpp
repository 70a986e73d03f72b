// "Sounds like" search: FAISS inner-product indexes over an embedding store's rows.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>
#include <unordered_map>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>

#include <genrenet/library.h>

#include "common/option_tables.h"
#include "common/sha256.h"
#include "library/embedding_store.h"
#include "io/atomic_file.h"
#include "io/npy.h"

namespace genrenet {
namespace {

// FAISS's row numbers (faiss::idx_t from 1.7.4 on; Index::idx_t, still there, in Debian's 1.7.3).
using RowId = faiss::Index::idx_t;

std::filesystem::path index_file(const std::filesystem::path& folder) { return folder / "index.faiss"; }
// How the index is built (SimilarityIndexOptions), so that an addition rebuilds it the same way.
std::filesystem::path options_file(const std::filesystem::path& folder) { return folder / "index.json"; }

void write_index_options(const std::filesystem::path& folder, const SimilarityIndexOptions& o) {
  io::write_file_atomically(options_file(folder), similarity_index_options_table().to_json(o).dump(1));
}

SimilarityIndexOptions read_index_options(const std::filesystem::path& folder) {
  const std::filesystem::path file = options_file(folder);
  try {
    const auto& table = similarity_index_options_table();
    const auto j = nlohmann::json::parse(io::read_text_file(file));
    for (const auto& f : table.fields()) j.at(f.key);  // every option present
    SimilarityIndexOptions o = table.parse(j.dump(), file.string());
    table.validate(o);
    return o;
  } catch (const std::exception& e) {
    throw Error(file.string(), std::string("damaged (") + e.what() + "): build the index again (genrenet index build)");
  }
}

struct Store {
  nlohmann::json meta;
  StoredEmbeddings embeddings;
  int dimension = 0;
  WindowOptions windows;
};

Store read_store(const std::filesystem::path& folder, bool with_values = true) {
  const EmbeddingStoreFiles files = embedding_store_files(folder, false);
  if (!std::filesystem::exists(files.meta))
    throw Error(folder.string(), "not an index or embedding folder (no embeddings.json): make one with `genrenet index build`");
  Store s;
  try {
    s.meta = nlohmann::json::parse(io::read_text_file(files.meta));
    s.dimension = s.meta.at("size").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(files.meta.string(), std::string("damaged (") + e.what() + ")");
  }
  if (s.dimension < 1 || s.dimension > 65536) throw Error(files.meta.string(), "an embedding size out of range");
  s.windows = embedding_store_windows(files);
  s.embeddings = read_embedding_store(files, s.dimension, with_values);
  return s;
}

// Rows of a store's matrix read from disk as they are needed (an IVF-PQ index re-scores its candidates
// with them; the matrix is not held in memory). pread: safe from several threads at once.
class MatrixOnDisk {
 public:
  MatrixOnDisk(const std::filesystem::path& npy, int dimension) : name_(npy.string()), dimension_(dimension) {
    offset_ = io::read_npy_layout(npy).data_offset;
    fd_ = ::open(npy.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(name_, std::string("cannot open: ") + std::strerror(errno));
  }
  ~MatrixOnDisk() { ::close(fd_); }
  MatrixOnDisk(const MatrixOnDisk&) = delete;
  MatrixOnDisk& operator=(const MatrixOnDisk&) = delete;

  std::vector<float> row(int r) const {
    std::vector<float> v(static_cast<size_t>(dimension_));
    const size_t bytes = v.size() * sizeof(float);
    size_t done = 0;
    while (done < bytes) {
      const ssize_t n = ::pread(fd_, reinterpret_cast<char*>(v.data()) + done, bytes - done,
                                static_cast<off_t>(offset_ + static_cast<std::uint64_t>(r) * bytes + done));
      if (n <= 0) throw Error(name_, "row " + std::to_string(r) + " cannot be read (the matrix was changed or truncated)");
      done += static_cast<size_t>(n);
    }
    return v;
  }

 private:
  std::string name_;
  int dimension_, fd_ = -1;
  std::uint64_t offset_ = 0;
};

float dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

// The candidates of an approximate search in the order of their exact similarity to `query` (rows from
// `values`); -1 rows (fewer than asked) go last.
void rescore(std::span<const float> query, const std::function<std::vector<float>(RowId)>& values, std::vector<RowId>& rows,
             std::vector<float>& similarity) {
  std::vector<std::pair<float, RowId>> scored;
  for (RowId r : rows)
    if (r >= 0) scored.emplace_back(dot(query, values(r)), r);
  std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i] = i < scored.size() ? scored[i].second : -1;
    similarity[i] = i < scored.size() ? scored[i].first : 0;
  }
}

// The k nearest of every query in `index`, as row numbers (-1 where there are fewer than k rows).
std::vector<RowId> nearest(const faiss::Index& index, const float* queries, int n, int k) {
  std::vector<float> similarity(static_cast<size_t>(n) * k);
  std::vector<RowId> rows(static_cast<size_t>(n) * k);
  index.search(n, queries, k, similarity.data(), rows.data());
  return rows;
}

// Of an approximate index against the exact one: the share of each query's exact 10 nearest that it finds.
// With `rerank` above 0, as an IVF-PQ index answers: k x rerank candidates re-scored exactly.
double recall_at_10(const faiss::Index& approximate, const faiss::Index& exact, const std::vector<float>& values, int d,
                    int rerank = 0) {
  const int n = static_cast<int>(values.size() / d), queries = std::min(n, 1000), k = std::min(10, n);
  if (queries == 0) return 1;
  // Queries spread evenly over the rows.
  std::vector<float> q;
  for (int i = 0; i < queries; ++i) {
    const size_t row = static_cast<size_t>(i) * n / queries;
    q.insert(q.end(), values.begin() + row * d, values.begin() + (row + 1) * d);
  }
  const int shortlist = rerank > 0 ? std::min(n, k * rerank) : k;
  const auto truth = nearest(exact, q.data(), queries, k), found = nearest(approximate, q.data(), queries, shortlist);
  auto row_of = [&](RowId r) { return std::vector<float>(values.begin() + r * d, values.begin() + (r + 1) * d); };
  size_t hits = 0;
  for (int i = 0; i < queries; ++i) {
    const std::set<RowId> want(truth.begin() + i * k, truth.begin() + (i + 1) * k);
    std::vector<RowId> candidates(found.begin() + static_cast<size_t>(i) * shortlist, found.begin() + static_cast<size_t>(i + 1) * shortlist);
    std::vector<float> similarity(candidates.size());
    if (rerank > 0) rescore(std::span<const float>(q.data() + static_cast<size_t>(i) * d, d), row_of, candidates, similarity);
    for (int j = 0; j < k; ++j) hits += want.count(candidates[j]);
  }
  return static_cast<double>(hits) / (static_cast<double>(queries) * k);
}

}  // namespace

struct SimilarityIndex::Impl {
  std::filesystem::path folder;
  Store store;
  std::unique_ptr<faiss::Index> index;
  // Made once, at open, so that no query scans every row: sha256 -> the rows holding that content (in row
  // order), and file name -> its first row.
  std::unordered_map<std::string, std::vector<int>> rows_of_content;
  std::unordered_map<std::string, int> first_row_of_file;
  // An IVF-PQ index keeps only its codes in memory: rows are read from the matrix on disk, and a query's
  // candidates (k x rerank of them) re-scored exactly.
  std::unique_ptr<MatrixOnDisk> on_disk;
  int rerank = 0;
  std::vector<float> row_values(int row) const {
    if (on_disk) return on_disk->row(row);
    const size_t d = static_cast<size_t>(store.dimension);
    return {store.embeddings.values.begin() + static_cast<std::ptrdiff_t>(row * d),
            store.embeddings.values.begin() + static_cast<std::ptrdiff_t>((row + 1) * d)};
  }
};

SimilarityIndex::SimilarityIndex() : impl_(std::make_unique<Impl>()) {}
SimilarityIndex::~SimilarityIndex() = default;
SimilarityIndex::SimilarityIndex(SimilarityIndex&&) noexcept = default;
SimilarityIndex& SimilarityIndex::operator=(SimilarityIndex&&) noexcept = default;

const options::Table<SimilarityIndexOptions>& similarity_index_options_table() {
  static const auto table =
      options::Table<SimilarityIndexOptions>("index option", "Index")
          .boolean("ivf", &SimilarityIndexOptions::ivf, "An IVF index (approximate, for large libraries); its recall@10 is printed",
                   "--ivf")
          .integer("nlist", &SimilarityIndexOptions::nlist, {0, 1 << 20}, "IVF cells (0: about sqrt(files))", "--nlist")
          .integer("nprobe", &SimilarityIndexOptions::nprobe, {1, 1 << 20}, "IVF cells searched per query", "--nprobe")
          .integer("pq", &SimilarityIndexOptions::pq, {0, 4096},
                   "IVF-PQ: each vector in this many bytes (0: whole; must divide the embedding size); with --ivf", "--pq")
          .check([](const SimilarityIndexOptions& o) {
            return o.pq > 0 && !o.ivf ? std::string("needs an IVF index (ivf, --ivf)") : std::string();
          })
          .integer("rerank", &SimilarityIndexOptions::rerank, {0, 1000},
                   "IVF-PQ: k x this many candidates re-scored exactly from the store's vectors on disk (0: the codes' order)",
                   "--rerank");
  return table;
}

IndexBuildReport SimilarityIndex::build(const std::filesystem::path& folder, const SimilarityIndexOptions& o) {
  similarity_index_options_table().validate(o);
  const auto t0 = std::chrono::steady_clock::now();
  const Store s = read_store(folder);
  const int d = s.dimension, n = static_cast<int>(s.embeddings.rows.size());
  if (n == 0) throw Error(folder.string(), "holds no embeddings to index");
  IndexBuildReport r;
  r.rows = n;
  r.dimension = d;
  const float* x = s.embeddings.values.data();
  faiss::IndexFlatIP exact(d);
  exact.add(n, x);
  std::unique_ptr<faiss::Index> index;
  try {
    if (o.ivf) {
      const int nlist = o.nlist > 0 ? o.nlist : std::max(1, static_cast<int>(std::lround(std::sqrt(n))));
      if (nlist > n) throw Error("nlist", "an IVF index of " + std::to_string(nlist) + " cells needs at least as many rows, got " + std::to_string(n));
      if (o.nprobe < 1 || o.nprobe > nlist) throw Error("nprobe", "must be in [1, " + std::to_string(nlist) + "]");
      std::unique_ptr<faiss::IndexIVF> ivf;
      r.kind = "ivf" + std::to_string(nlist);
      if (o.pq > 0) {
        if (d % o.pq != 0) throw Error("pq", "must divide the embedding size " + std::to_string(d) + ", got " + std::to_string(o.pq));
        // 256 centroids per sub-vector are trained by k-means on the rows themselves.
        if (n < 256) throw Error("pq", "an IVF-PQ index needs at least 256 rows to train on, got " + std::to_string(n));
        ivf = std::make_unique<faiss::IndexIVFPQ>(new faiss::IndexFlatIP(d), d, nlist, o.pq, 8, faiss::METRIC_INNER_PRODUCT);
        r.kind += "-pq" + std::to_string(o.pq);
      } else {
        ivf = std::make_unique<faiss::IndexIVFFlat>(new faiss::IndexFlatIP(d), d, nlist, faiss::METRIC_INNER_PRODUCT);
      }
      ivf->own_fields = true;  // it deletes its quantizer
      ivf->train(n, x);
      ivf->add(n, x);
      ivf->nprobe = o.nprobe;
      r.bytes_per_vector = static_cast<double>(ivf->code_size + sizeof(RowId));
      r.recall_at_10 = recall_at_10(*ivf, exact, s.embeddings.values, d, o.pq > 0 ? o.rerank : 0);
      index = std::move(ivf);
    } else {
      auto flat = std::make_unique<faiss::IndexFlatIP>(d);
      flat->add(n, x);
      r.kind = "flat";
      r.bytes_per_vector = sizeof(float) * static_cast<double>(d);
      index = std::move(flat);
    }
    io::write_atomically(index_file(folder), [&](const std::filesystem::path& tmp) { faiss::write_index(index.get(), tmp.c_str()); });
    write_index_options(folder, o);
  } catch (const faiss::FaissException& e) {
    throw Error(folder.string(), std::string("FAISS: ") + e.what());
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {

// A merge's inputs: each store given, or for a folder holding shard-* folders (embed --shard's), those.
std::vector<std::filesystem::path> stores_to_merge(const std::vector<std::filesystem::path>& given) {
  std::vector<std::filesystem::path> out;
  for (const auto& g : given) {
    if (std::filesystem::exists(embedding_store_files(g, false).meta)) {
      out.push_back(g);
      continue;
    }
    std::vector<std::filesystem::path> shards;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(g, ec))
      if (e.is_directory() && e.path().filename().string().rfind("shard-", 0) == 0) shards.push_back(e.path());
    if (shards.empty()) throw Error(g.string(), "neither an embedding store (no embeddings.json) nor a folder of shard-* stores");
    std::sort(shards.begin(), shards.end());
    out.insert(out.end(), shards.begin(), shards.end());
  }
  return out;
}

}  // namespace

IndexBuildReport SimilarityIndex::merge(const std::vector<std::filesystem::path>& given, const std::filesystem::path& folder,
                                        const SimilarityIndexOptions& o) {
  similarity_index_options_table().validate(o);
  if (given.empty()) throw Error("index merge", "no stores to merge");
  const std::vector<std::filesystem::path> stores = stores_to_merge(given);
  Store merged;
  std::set<std::string> have;
  for (const auto& path : stores) {
    Store s = read_store(path);
    if (merged.meta.is_null()) {
      merged.meta = s.meta;
      merged.dimension = s.dimension;
    }
    check_same_embedding_space(s.meta, path.string(), merged.meta, /*compare_windows=*/true);
    for (size_t i = 0; i < s.embeddings.rows.size(); ++i) {
      nlohmann::json row = s.embeddings.rows[i];
      if (!have.insert(row.value("sha256", "")).second) continue;  // a content in two shards: kept once
      row["row"] = merged.embeddings.rows.size();
      merged.embeddings.rows.push_back(std::move(row));
      const auto first = s.embeddings.values.begin() + static_cast<std::ptrdiff_t>(i * s.dimension);
      merged.embeddings.values.insert(merged.embeddings.values.end(), first, first + s.dimension);
    }
  }
  const EmbeddingStoreFiles out = embedding_store_files(folder, true);
  if (std::filesystem::exists(out.meta))
    check_same_embedding_space(nlohmann::json::parse(io::read_text_file(out.meta)), folder.string(), merged.meta, true);
  // The merged rows are numbered afresh, so an old list must not outlive the old matrix: it goes first, and a
  // kill before the new list is written leaves an empty store (merge again), never rows naming others' vectors.
  std::error_code ec;
  std::filesystem::remove(out.list, ec);
  io::write_file_atomically(out.meta, merged.meta.dump(1));
  write_embedding_store(out, merged.embeddings, merged.dimension);
  return build(folder, o);
}

IndexAddReport SimilarityIndex::add(const Classifier& classifier, const std::filesystem::path& folder,
                                   const std::vector<std::filesystem::path>& files, const IndexAddOptions& o,
                                   const std::function<void(std::size_t)>& done) {
  const EmbeddingStoreFiles store = embedding_store_files(folder, false);
  const bool existing = std::filesystem::exists(store.meta);
  // An existing folder is built and windowed as before unless told otherwise (its windows are checked
  // against given ones by embed_into_store, with the rest of the rule).
  SimilarityIndexOptions how = o.index.value_or(SimilarityIndexOptions{});
  if (existing && !o.index && std::filesystem::exists(options_file(folder))) how = read_index_options(folder);
  const WindowOptions windows = o.windows ? *o.windows : existing ? embedding_store_windows(store) : WindowOptions{};
  IndexAddReport r;
  r.embedded = embed_into_store(classifier, files, folder, windows, done, o.group);
  r.index = build(folder, how);
  return r;
}

SimilarityIndex SimilarityIndex::open(const std::filesystem::path& folder) {
  SimilarityIndex out;
  out.impl_->folder = folder;
  const SimilarityIndexOptions how =
      std::filesystem::exists(options_file(folder)) ? read_index_options(folder) : SimilarityIndexOptions{};
  out.impl_->store = read_store(folder, /*with_values=*/how.pq == 0);
  if (how.pq > 0) {
    out.impl_->on_disk = std::make_unique<MatrixOnDisk>(embedding_store_files(folder, false).matrix, out.impl_->store.dimension);
    out.impl_->rerank = how.rerank;
  }
  if (!std::filesystem::exists(index_file(folder)))
    throw Error(folder.string(), "has embeddings but no index.faiss: run `genrenet index build` on it");
  try {
    out.impl_->index.reset(faiss::read_index(index_file(folder).c_str()));
  } catch (const faiss::FaissException& e) {
    throw Error(index_file(folder).string(), std::string("damaged index (FAISS: ") + e.what() + ")");
  }
  const auto& rows = out.impl_->store.embeddings.rows;
  for (size_t i = 0; i < rows.size(); ++i) {
    out.impl_->rows_of_content[rows[i].value("sha256", "")].push_back(static_cast<int>(i));
    out.impl_->first_row_of_file.emplace(rows[i].value("file", ""), static_cast<int>(i));
  }
  const faiss::Index& index = *out.impl_->index;
  if (index.d != out.impl_->store.dimension || index.ntotal != static_cast<RowId>(out.impl_->store.embeddings.rows.size()))
    throw Error(index_file(folder).string(), "does not match the embeddings beside it (" + std::to_string(index.ntotal) +
                                                 " rows of " + std::to_string(index.d) + " against " +
                                                 std::to_string(out.impl_->store.embeddings.rows.size()) +
                                                 "): run `genrenet index build` again");
  return out;
}

int SimilarityIndex::size() const { return static_cast<int>(impl_->store.embeddings.rows.size()); }
int SimilarityIndex::dimension() const { return impl_->store.dimension; }
std::string SimilarityIndex::model_file() const { return impl_->store.meta.value("model", ""); }
std::string SimilarityIndex::weights_sha256() const { return impl_->store.meta.value("weights_sha256", ""); }
WindowOptions SimilarityIndex::windows() const { return impl_->store.windows; }
std::string SimilarityIndex::features_json() const { return impl_->store.meta.value("features", nlohmann::json()).dump(); }
SimilarityIndexOptions SimilarityIndex::options() const {
  // An index of a version that did not record its options was built the default way.
  return std::filesystem::exists(options_file(impl_->folder)) ? read_index_options(impl_->folder) : SimilarityIndexOptions{};
}

void SimilarityIndex::check_compatible(const Classifier& classifier) const {
  check_same_embedding_space(impl_->store.meta, impl_->folder.string(), classifier, nullptr);
}

std::vector<Neighbour> SimilarityIndex::query(const Classifier& classifier, std::span<const float> samples, int sample_rate,
                                              int k, const std::string& content_sha256) const {
  check_compatible(classifier);
  return search(classifier.embed(samples, sample_rate, windows()).values, k, content_sha256);
}

std::vector<Neighbour> SimilarityIndex::query_file(const Classifier& classifier, const std::filesystem::path& file, int k) const {
  check_compatible(classifier);
  const std::string sha = sha256_file(file);
  if (const int row = find_row(sha); row >= 0) return search_like_row(row, k);
  return search(classifier.embed_file(file, windows()).values, k, sha);
}

std::vector<Neighbour> SimilarityIndex::search(std::span<const float> query, int k, const std::string& exclude_sha256) const {
  if (static_cast<int>(query.size()) != dimension())
    throw Error("query", "has " + std::to_string(query.size()) + " values; this index holds embeddings of " + std::to_string(dimension()));
  if (k < 1) throw Error("k", "must be at least 1");
  const auto& rows = impl_->store.embeddings.rows;
  // One more than asked for each row that may be left out (the query's own content).
  const auto excluded = impl_->rows_of_content.find(exclude_sha256);
  const int extra = excluded == impl_->rows_of_content.end() ? 0 : static_cast<int>(excluded->second.size());
  const int want = std::min(size(), (k + extra) * std::max(1, impl_->rerank));
  std::vector<float> similarity(want);
  std::vector<RowId> found(want);
  impl_->index->search(1, query.data(), want, similarity.data(), found.data());
  if (impl_->rerank > 0) rescore(query, [&](RowId r) { return impl_->row_values(static_cast<int>(r)); }, found, similarity);
  std::vector<Neighbour> out;
  for (int i = 0; i < want && static_cast<int>(out.size()) < k; ++i) {
    if (found[i] < 0) continue;
    const nlohmann::json& r = rows[static_cast<size_t>(found[i])];
    if (!exclude_sha256.empty() && r["sha256"] == exclude_sha256) continue;
    out.push_back({static_cast<int>(found[i]), r.value("file", ""), r["sha256"].get<std::string>(), r.value("duration_s", 0.0),
                   similarity[i]});
  }
  return out;
}

int SimilarityIndex::find_row(const std::string& file_or_sha256) const {
  // The first row that has it as its name or as its content.
  int row = -1;
  if (const auto f = impl_->first_row_of_file.find(file_or_sha256); f != impl_->first_row_of_file.end()) row = f->second;
  if (const auto c = impl_->rows_of_content.find(file_or_sha256); c != impl_->rows_of_content.end())
    row = row < 0 ? c->second.front() : std::min(row, c->second.front());
  return row;
}

static void check_row(int row, int size) {
  if (row < 0 || row >= size) throw Error("row", "must be in [0, " + std::to_string(size) + "), got " + std::to_string(row));
}

std::vector<float> SimilarityIndex::embedding(int row) const {
  check_row(row, size());
  return impl_->row_values(row);
}

std::string SimilarityIndex::file(int row) const {
  check_row(row, size());
  return impl_->store.embeddings.rows[static_cast<size_t>(row)].value("file", "");
}

std::vector<Neighbour> SimilarityIndex::search_like_row(int row, int k) const {
  check_row(row, size());
  return search(embedding(row), k, impl_->store.embeddings.rows[static_cast<size_t>(row)]["sha256"].get<std::string>());
}

}  // namespace genrenet
