// Catalogues beyond one machine: shards from a flag or from Slurm's and torchrun's variables, each file in
// exactly one shard, a killed shard resuming, the shards' stores merged into what one process makes, and
// IVF-PQ indexes.
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>

#include "small_model.h"
#include "test_util.h"

namespace genrenet {
namespace {

// Sets environment variables for one scope, and puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::map<std::string, std::string> vars) {
    for (auto& [k, v] : vars) {
      const char* old = std::getenv(k.c_str());
      old_.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (auto& [k, v] : old_) v ? void(::setenv(k.c_str(), v->c_str(), 1)) : void(::unsetenv(k.c_str()));
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> old_;
};

TEST(Shards, FromTheFlagOrFromSlurmOrTorchrun) {
  ScopedEnv none({{"SLURM_ARRAY_TASK_COUNT", ""}, {"WORLD_SIZE", ""}});
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
  ::unsetenv("WORLD_SIZE");
  EXPECT_TRUE(resolve_shard("").whole());
  const Shard typed = resolve_shard("1/3");
  EXPECT_EQ(typed.index, 1);
  EXPECT_EQ(typed.count, 3);
  EXPECT_EQ(typed.name(), "shard-1-of-3");
  for (const char* bad : {"3/3", "1", "a/2", "1/0", "-1/2"}) EXPECT_THROW(resolve_shard(bad), Error) << bad;
  {
    ScopedEnv slurm({{"SLURM_ARRAY_TASK_COUNT", "4"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_ID", "4"}});
    const Shard s = resolve_shard("");
    EXPECT_EQ(s.index, 3);  // --array=1-4: task 4 is the last part
    EXPECT_EQ(s.count, 4);
    EXPECT_EQ(s.source, "SLURM_ARRAY_TASK_ID");
    EXPECT_EQ(resolve_shard("0/2").source, "--shard");  // the flag wins
  }
  {
    ScopedEnv torchrun({{"WORLD_SIZE", "2"}, {"RANK", "5"}});
    try {
      resolve_shard("");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("RANK: must be a whole number in [0, 1], got \"5\""), std::string::npos) << e.what();
    }
  }
}

TEST(Shards, EveryFileInExactlyOneShardWhateverElseIsListed) {
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < 1000; ++i) files.push_back("music/artist " + std::to_string(i % 37) + "/" + std::to_string(i) + ".flac");
  std::map<std::string, int> shard_of;
  for (int k = 0; k < 4; ++k)
    for (auto& f : files_of_shard(files, {k, 4, "--shard"})) EXPECT_TRUE(shard_of.emplace(f.string(), k).second) << f;
  EXPECT_EQ(shard_of.size(), files.size());
  for (int k = 0; k < 4; ++k) EXPECT_GT(std::count_if(shard_of.begin(), shard_of.end(), [&](auto& e) { return e.second == k; }), 180);
  // Half the catalogue listed: each file stays in its shard.
  const std::vector<std::filesystem::path> half(files.begin(), files.begin() + 500);
  for (int k = 0; k < 4; ++k)
    for (auto& f : files_of_shard(half, {k, 4, "--shard"})) EXPECT_EQ(shard_of.at(f.string()), k);
}

std::map<std::string, std::vector<float>> store_by_content(const std::filesystem::path& folder) {
  const NpyArray m = read_npy(folder / "embeddings.npy");
  std::ifstream list(folder / "embeddings.jsonl");
  std::map<std::string, std::vector<float>> out;
  std::string line;
  const size_t d = static_cast<size_t>(m.shape[1]);
  while (std::getline(list, line)) {
    const auto j = nlohmann::json::parse(line);
    const size_t row = j["row"].get<size_t>();
    out[j["sha256"].get<std::string>()] = std::vector<float>(m.data.begin() + row * d, m.data.begin() + (row + 1) * d);
  }
  return out;
}

// The done-when of the issue: two Slurm-style shards, one killed and resumed, merged, equal the one-process store.
TEST(Shards, TwoSlurmShardsMergedEqualOneProcessAndAKilledShardResumes) {
  test::TempDir dir;
  const auto model = test::make_small_model_file(dir.path());
  std::filesystem::create_directories(dir / "music");
  for (unsigned seed = 1; seed <= 8; ++seed)
    write_wav(dir / "music" / ("song" + std::to_string(seed) + ".wav"), synthesize_example_clip(2.0 + seed % 3, 8000, seed), 8000);
  const std::string embed = std::string(GENRENET_EXE) + " embed --model " + model.string() + " " + (dir / "music").string();
  auto r = test::run(embed + " --out " + (dir / "whole").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string slurm = "SLURM_ARRAY_TASK_COUNT=2 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_ID=";
  // Shard 0 killed (kill -9) after its first file's row is written; run again, it does only the rest.
  r = test::run("GENRENET_FAILPOINT=store-written:kill " + slurm + "0 " + embed + " --group 1 --out " + (dir / "shards").string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("shard 0/2 (SLURM_ARRAY_TASK_ID)"), std::string::npos) << r.output;
  EXPECT_EQ(store_by_content(dir / "shards/shard-0-of-2").size(), 1u);
  r = test::run(slurm + "0 " + embed + " --group 1 --out " + (dir / "shards").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("(1 already there, 0 failed)"), std::string::npos) << r.output;
  r = test::run(slurm + "1 " + embed + " --out " + (dir / "shards").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto part0 = store_by_content(dir / "shards/shard-0-of-2"), part1 = store_by_content(dir / "shards/shard-1-of-2");
  EXPECT_EQ(part0.size() + part1.size(), 8u);
  EXPECT_GT(part0.size(), 0u);
  EXPECT_GT(part1.size(), 0u);

  r = test::run(std::string(GENRENET_EXE) + " index merge " + (dir / "shards").string() + " --out " + (dir / "merged").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("index flat of 8 embeddings"), std::string::npos) << r.output;
  const auto whole = store_by_content(dir / "whole"), merged = store_by_content(dir / "merged");
  ASSERT_EQ(merged.size(), whole.size());
  for (auto& [sha, v] : whole) {
    ASSERT_TRUE(merged.count(sha)) << sha;
    for (size_t i = 0; i < v.size(); ++i) ASSERT_NEAR(merged.at(sha)[i], v[i], 1e-6) << sha << " " << i;
  }
  EXPECT_EQ(SimilarityIndex::open(dir / "merged").search(whole.begin()->second, 1).at(0).sha256, whole.begin()->first);

  // Merging into an existing folder replaces its store: one shard's rows, numbered afresh, with an index to match.
  std::filesystem::copy(dir / "merged", dir / "replaced", std::filesystem::copy_options::recursive);
  r = test::run(std::string(GENRENET_EXE) + " index merge " + (dir / "shards/shard-1-of-2").string() + " --out " +
                (dir / "replaced").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto replaced = store_by_content(dir / "replaced");
  EXPECT_EQ(replaced.size(), part1.size());
  for (auto& [sha, v] : part1) EXPECT_TRUE(replaced.count(sha)) << sha;
  EXPECT_EQ(SimilarityIndex::open(dir / "replaced").search(part1.begin()->second, 1).at(0).sha256, part1.begin()->first);

  // The merged library's picture: a dot per file; no genre tags in these WAVs, so auto colours by folder.
  r = test::run(std::string(GENRENET_EXE) + " index map " + (dir / "merged").string() + " --out " + (dir / "map.png").string() +
                " --json " + (dir / "map.json").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("8 of 8 files in 1 genres (auto)"), std::string::npos) << r.output;
  EXPECT_EQ(test::read_bytes(dir / "map.png").substr(1, 3), "PNG");
  const auto points = nlohmann::json::parse(test::read_bytes(dir / "map.json"));
  EXPECT_EQ(points["points"].size(), 8u);
  EXPECT_EQ(points["genres"], nlohmann::json::array({"music"}));
  const LibraryMap by_tag = map_library(SimilarityIndex::open(dir / "merged"), {.max_points = 5, .by = "tag"});
  EXPECT_EQ(by_tag.points.size(), 5u);  // an even sample
  EXPECT_EQ(by_tag.genres, std::vector<std::string>{"untagged"});

  // Stores of another model are not merged.
  ModelFile other = read_model_file(model);
  other.weights["fc.bias"] = other.weights["fc.bias"] + 1;
  save_model_file(dir / "other.safetensors", other);
  r = test::run(std::string(GENRENET_EXE) + " embed --model " + (dir / "other.safetensors").string() + " " +
                (dir / "music/song1.wav").string() + " --out " + (dir / "other").string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = test::run(std::string(GENRENET_EXE) + " index merge " + (dir / "shards").string() + " " + (dir / "other").string() +
                " --out " + (dir / "mixed").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("made by another model"), std::string::npos) << r.output;
  r = test::run(slurm + "0 " + embed + " --out " + (dir / "one.npy").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("a shard writes into a folder"), std::string::npos) << r.output;
}

// A content hash for a synthetic row (64 hex digits, as a store holds).
std::string fake_sha256(int row) {
  char hex[65];
  std::snprintf(hex, sizeof hex, "%064x", row);
  return hex;
}

// A store of clustered unit vectors, as bench_library makes at scale.
void write_synthetic_store(const std::filesystem::path& dir, int rows, int d) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> centres(static_cast<size_t>(20) * d), values(static_cast<size_t>(rows) * d);
  for (auto& v : centres) v = normal(rng);
  for (int r = 0; r < rows; ++r) {
    double n = 0;
    for (int i = 0; i < d; ++i) {
      float& v = values[static_cast<size_t>(r) * d + i];
      v = centres[static_cast<size_t>(r % 20) * d + i] + 0.5f * normal(rng);
      n += v * v;
    }
    for (int i = 0; i < d; ++i) values[static_cast<size_t>(r) * d + i] /= static_cast<float>(std::sqrt(n));
  }
  write_npy(dir / "embeddings.npy", values, {rows, d});
  std::ofstream list(dir / "embeddings.jsonl");
  for (int r = 0; r < rows; ++r)
    list << nlohmann::json({{"row", r}, {"file", std::to_string(r) + ".flac"}, {"sha256", fake_sha256(r)}, {"duration_s", 30.0}, {"windows", 1}}).dump()
         << "\n";
  const nlohmann::json windows = {{"windows", true}, {"window_s", 8.192}, {"hop_s", 4.096}};
  std::ofstream(dir / "embeddings.json")
      << nlohmann::json({{"model", "synthetic"}, {"weights_sha256", "synthetic"}, {"size", d}, {"windows", windows}}).dump();
}

// Two far-apart groups of embeddings stay apart on the map: the first component separates them.
TEST(LibraryMap, DistancesBetweenEmbeddingsShowOnTheMap) {
  test::TempDir dir;
  write_synthetic_store(dir / "store", 400, 64);
  SimilarityIndex::build(dir / "store");
  const SimilarityIndex index = SimilarityIndex::open(dir / "store");
  const LibraryMap m = map_library(index, {.by = "tag"});
  ASSERT_EQ(m.points.size(), 400u);
  EXPECT_GT(m.explained, 0.1);
  EXPECT_LE(m.explained, 1.0);
  // Points of one cluster (rows r % 20 == c) lie closer to each other than to the other clusters' on average.
  auto centre = [&](int c) {
    double x = 0, y = 0;
    for (int r = c; r < 400; r += 20) x += m.points[r].x / 20, y += m.points[r].y / 20;
    return std::pair{x, y};
  };
  double within = 0, between = 0;
  for (int c = 0; c < 20; ++c) {
    const auto [cx, cy] = centre(c);
    for (int r = c; r < 400; r += 20) within += std::hypot(m.points[r].x - cx, m.points[r].y - cy) / 400;
    const auto [ox, oy] = centre((c + 1) % 20);
    between += std::hypot(cx - ox, cy - oy) / 20;
  }
  EXPECT_LT(within, between);
  EXPECT_EQ(m.points[5].file, "5.flac");
  EXPECT_EQ(m.points[5].genre, "unreadable");  // no such file here
  EXPECT_THROW(map_library(index, {.max_points = 1}), Error);
}

TEST(IvfPq, EachVectorInItsBytesWithItsRecallMeasured) {
  test::TempDir dir;
  write_synthetic_store(dir / "store", 2000, 64);
  SimilarityIndexOptions o;
  o.ivf = true;
  o.nlist = 20;
  o.nprobe = 4;
  o.pq = 16;
  const IndexBuildReport r = SimilarityIndex::build(dir / "store", o);
  EXPECT_EQ(r.kind, "ivf20-pq16");
  EXPECT_EQ(r.bytes_per_vector, 16 + 8);  // the codes and the id
  EXPECT_GT(r.recall_at_10, 0.9);  // k x 10 candidates by their codes, re-scored exactly
  EXPECT_LE(r.recall_at_10, 1.0);
  o.rerank = 0;
  const IndexBuildReport codes_only = SimilarityIndex::build(dir / "store", o);
  EXPECT_LT(codes_only.recall_at_10, r.recall_at_10);
  o.rerank = 10;
  SimilarityIndex::build(dir / "store", o);
  {
    // The index holds its codes; the vectors it re-scores with are read from the matrix on disk as needed.
    const SimilarityIndex index = SimilarityIndex::open(dir / "store");
    const std::vector<Neighbour> near = index.search_like_row(7, 5);
    ASSERT_EQ(near.size(), 5u);
    for (size_t i = 1; i < near.size(); ++i) EXPECT_GE(near[i - 1].similarity, near[i].similarity);
    const std::vector<float> seven = index.embedding(7), first = index.embedding(near[0].row);
    double dot = 0;
    for (size_t i = 0; i < seven.size(); ++i) dot += double(seven[i]) * first[i];
    EXPECT_NEAR(near[0].similarity, dot, 1e-5);  // the exact cosine, not the codes' estimate
    std::filesystem::resize_file(dir / "store" / "embeddings.npy", 1000);
    try {
      index.search_like_row(1500, 5);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot be read"), std::string::npos) << e.what();
    }
  }
  write_synthetic_store(dir / "store", 2000, 64);
  o.pq = 7;
  try {
    SimilarityIndex::build(dir / "store", o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must divide the embedding size 64"), std::string::npos) << e.what();
  }
  o.pq = 16;
  o.ivf = false;
  EXPECT_THROW(SimilarityIndex::build(dir / "store", o), Error);
  // And from the command line, where recall is printed as IVF's is.
  auto cli = test::run(std::string(GENRENET_EXE) + " index merge " + (dir / "store").string() + " --out " + (dir / "pq").string() +
                       " --ivf --nlist 20 --pq 16");
  ASSERT_EQ(cli.status, 0) << cli.output;
  EXPECT_NE(cli.output.find("index ivf20-pq16 of 2000 embeddings (64 values, 24 bytes each)"), std::string::npos) << cli.output;
  EXPECT_NE(cli.output.find("recall@10 against the exact index"), std::string::npos) << cli.output;
}

}  // namespace
}  // namespace genrenet
