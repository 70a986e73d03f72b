// genrenet/library.h — "sounds like" search over a music library's embeddings, on FAISS.
//
//   genrenet::SimilarityIndex index = genrenet::SimilarityIndex::open("library-index");
//   for (auto& n : index.search(classifier.embed_file("song.flac").values, 10)) ...
//
//   genrenet::Classifier clf("model.safetensors");
//   genrenet::SimilarityIndex::add(clf, "library-index", genrenet::collect_audio_files({"~/Music"}));
//   auto near = genrenet::SimilarityIndex::open("library-index").query_file(clf, "song.flac", 10);
//
// An index is a folder: the embedding store of `embed_into_store` (embeddings.npy, .jsonl, .json), index.json
// (how it is built: SimilarityIndexOptions) and index.faiss, an inner-product index over its rows (exact by
// default; IVF for large libraries). Embeddings are unit length, so the inner product is the cosine
// similarity. The folder records what makes its embeddings comparable (the model's identity, its feature
// options, the windows), and every addition and query is checked against it.
//
// Genre tags written into the files (TagLib): `tag_files` classifies each file and writes the answer into
// its genre (or comment) tag: ID3v2 (and ID3v1/APE where present) in MP3, Vorbis comments in FLAC and Ogg,
// RIFF INFO and ID3v2 in WAV, ID3v2 in AIFF. A file is never written in place: its copy is tagged, checked to
// decode to exactly the samples of the original, then renamed over it. A journal (SQLite) records every old
// value so that `undo_tags` restores them, and lets a rerun skip the files it finished.
// This header needs no LibTorch, FAISS, TagLib or SQLite headers.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <genrenet/classifier.h>
#include <genrenet/data.h>
#include <genrenet/genrenet.h>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Embeddings and "sounds like" (src/library/embedding_store.cpp, similarity_index.cpp)
// ---------------------------------------------------------------------------------------------------------

// A collection's embeddings on disk (`genrenet embed --out`): M.npy (float32, one row per file), M.jsonl (one
// line per row: row, file, sha256 of its content, duration_s, windows) and M.json (what made them: the model
// file, the sha256 of its weights, embedding size, feature options, window options), where M is `out` without
// ".npy", or out/embeddings for a folder. Adding files skips those whose content is already there (a rerun
// or a resumed run does only the rest), refuses a store made by another model or other windows, and rewrites the matrix and
// the list atomically after every `group` files (an interrupted run loses at most a group).
struct EmbedStoreReport {
  std::filesystem::path matrix;  // M.npy
  int rows = 0;                  // in the store now
  int embedded = 0, skipped = 0;
  std::vector<std::string> errors;  // one per file that could not be read (the others go on)
};
EmbedStoreReport embed_into_store(const Classifier& classifier, const std::vector<std::filesystem::path>& files,
                                  const std::filesystem::path& out,
                                  const WindowOptions& w = {}, const std::function<void(std::size_t)>& done = {},
                                  int group = 64);

struct SimilarityIndexOptions {
  bool ivf = false;  // an IVF index (approximate, for large libraries) instead of the exact flat one
  int nlist = 0;     // IVF cells; 0: about sqrt(rows)
  int nprobe = 8;    // IVF cells searched per query, [1, nlist]
  // IVF-PQ: each vector product-quantised into `pq` bytes (pq sub-vectors of 8 bits; it must divide the
  // embedding size) instead of kept whole: for catalogues whose vectors do not fit in memory. 0: IVF-flat.
  int pq = 0;
  // IVF-PQ: a query's k x rerank nearest by their codes are re-scored exactly from the store's vectors, read
  // from disk (an IVF-PQ index does not hold the matrix in memory); 0: the codes' order.
  int rerank = 50;
};

struct Neighbour {
  int row = 0;
  std::string file, sha256;
  double duration_seconds = 0;
  float similarity = 0;  // cosine, [-1, 1]
};

struct IndexBuildReport {
  int rows = 0, dimension = 0;
  std::string kind;       // "flat", "ivf<nlist>" or "ivf<nlist>-pq<M>"
  double bytes_per_vector = 0;  // of the index (FAISS's codes and ids, not the store's matrix)
  double seconds = 0;
  double recall_at_10 = 1;  // of an IVF index against the exact one, on up to 1000 of its own rows as queries
};

// How SimilarityIndex::add treats a folder: a new one takes these (or the defaults); an existing one keeps
// its own, and refuses other windows.
struct IndexAddOptions {
  std::optional<SimilarityIndexOptions> index;  // given: the index is rebuilt this way (and keeps it)
  std::optional<WindowOptions> windows;
  int group = 64;  // files embedded between the store's atomic rewrites
};

struct IndexAddReport {
  EmbedStoreReport embedded;
  IndexBuildReport index;
};

class SimilarityIndex {
 public:
  // (Re)builds index.faiss over every row of the embedding store in `folder` (Error when it holds none),
  // and records `options` in index.json for later additions.
  static IndexBuildReport build(const std::filesystem::path& folder, const SimilarityIndexOptions& options = {});
  // The embedding stores of several shards (folders or M.npy files: `embed --shard` or `index build
  // --shard` outputs; a folder holding shard-* folders stands for them all) merged into `folder`'s store, a
  // content once (the first store's row), then indexed with `options`. Error when two stores hold embeddings
  // of different models, features or windows (the rule of check_compatible), or `folder` holds another's.
  static IndexBuildReport merge(const std::vector<std::filesystem::path>& stores, const std::filesystem::path& folder,
                                const SimilarityIndexOptions& options = {});
  // Embeds `files` whose content the folder does not hold yet with `classifier` (embed_into_store; a new
  // folder is created), then rebuilds the index. Error when the folder holds another model's embeddings
  // (the rule of check_compatible) or other windows, or when its index.json is damaged.
  static IndexAddReport add(const Classifier& classifier, const std::filesystem::path& folder,
                            const std::vector<std::filesystem::path>& files, const IndexAddOptions& options = {},
                            const std::function<void(std::size_t)>& done = {});
  // Opens a built index; Error naming the folder when a file is missing or damaged.
  static SimilarityIndex open(const std::filesystem::path& folder);
  ~SimilarityIndex();
  SimilarityIndex(SimilarityIndex&&) noexcept;
  SimilarityIndex& operator=(SimilarityIndex&&) noexcept;

  int size() const;
  int dimension() const;
  SimilarityIndexOptions options() const;  // as it was built (index.json)
  std::string model_file() const;      // the model file that made the embeddings (as it was given)
  std::string weights_sha256() const;  // that model's identity (see embed_into_store)
  std::string features_json() const;   // its feature options
  // The windows its embeddings were made with: a query must be embedded with the same ones, or it lands in
  // another embedding space (Classifier::embed's default windows answered wrongly for an index built with
  // --window 8 --hop 4).
  WindowOptions windows() const;
  // The k most similar rows to a unit-length query (its size must be dimension()), most similar first,
  // leaving out rows whose content is `exclude_sha256` (the query file itself). Safe from several threads.
  std::vector<Neighbour> search(std::span<const float> query, int k, const std::string& exclude_sha256 = "") const;
  // A file already in the index: its row, found by the name it was given to embed or by the sha256 of its
  // content (-1 when none), and its k most similar other files from its stored embedding (no model needed).
  int find_row(const std::string& file_or_sha256) const;
  std::vector<Neighbour> search_like_row(int row, int k) const;
  std::vector<float> embedding(int row) const;      // a row's stored embedding (Error for a row out of range)
  std::string file(int row) const;                  // a row's file, as it was given when embedded

  // The one rule of comparable embeddings: `classifier` must have the weights (ModelIdentity) and the
  // feature options the index's embeddings were made with; Error naming the model otherwise. (The third
  // part, the windows, is the index's own: query embeds with them.)
  void check_compatible(const Classifier& classifier) const;
  // The k files most like audio: embedded by `classifier` (check_compatible) with the index's windows,
  // leaving out rows of the same content (`content_sha256`, when known). query_file answers a file whose
  // content the index holds from its stored embedding, like search_like_row. Safe from several threads.
  std::vector<Neighbour> query(const Classifier& classifier, std::span<const float> samples, int sample_rate, int k,
                               const std::string& content_sha256 = "") const;
  std::vector<Neighbour> query_file(const Classifier& classifier, const std::filesystem::path& file, int k) const;

 private:
  SimilarityIndex();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------------------
// A picture of the library (src/library/library_map.cpp): `genrenet index map`, the web page's map
// ---------------------------------------------------------------------------------------------------------

// The index's embeddings in two dimensions (their first two principal components: distances on the map are
// distances between embeddings, flattened), each point coloured by its file's genre: its genre tag
// (normalised: normalise_genre; "untagged" without one, "unreadable" when the file cannot be read) or, with
// `by` "folder", the name of the folder holding it (GTZAN's layout); "auto": tags, or folders when not one
// file has a genre tag.
struct LibraryMapOptions {
  int max_points = 20000;   // [2, 10^7]: an even sample of the rows beyond this (the picture holds no more)
  std::string by = "auto";  // "auto", "tag" or "folder"
};
struct LibraryMapPoint {
  float x = 0, y = 0;
  int row = 0;
  std::string file, genre;
};
struct LibraryMap {
  std::vector<LibraryMapPoint> points;
  std::vector<std::string> genres;  // those the points name, by how many points name them
  int rows = 0;                     // in the index
  double explained = 0;             // the share of the embeddings' variance the two axes show
  std::string to_json() const;      // {"rows", "explained", "genres", "points": [{"x", "y", "row", "file", "genre"}]}
  void save_png(const std::filesystem::path& png, const std::string& title = "") const;  // a scatter with a legend
};
LibraryMap map_library(const SimilarityIndex& index, const LibraryMapOptions& options = {});

// ---------------------------------------------------------------------------------------------------------
// Catalogues across machines (src/library/shards.cpp)
// ---------------------------------------------------------------------------------------------------------

// One machine's part of a catalogue split by an engine that starts the same command N times: Slurm job
// arrays, torchrun, or by hand (`--shard K/N`). embed, index build, tag and predict take their part; each
// part is resumable (a store or a journal skips what it holds), and `index merge` joins the stores.
struct Shard {
  int index = 0, count = 1;  // this part, in [0, count)
  std::string source;        // what said so: "--shard", "SLURM_ARRAY_TASK_ID", "RANK", or "" (the whole)
  bool whole() const { return count == 1; }
  std::string name() const;  // "shard-0-of-2": the folder of a shard's store
};
// `typed` "K/N" (K in [0, N)); when empty, the environment: a Slurm array (SLURM_ARRAY_TASK_ID minus
// SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT), else torchrun's RANK of WORLD_SIZE; else the whole.
// Error naming the flag or the variable when a value is not one.
Shard resolve_shard(const std::string& typed);
// The files of `shard`, in their order: a file's shard is a hash (FNV-1a) of its path as listed, modulo the
// count, so the same file is always in the same shard whatever else is listed (give every shard the same
// inputs), and every file is in exactly one.
std::vector<std::filesystem::path> files_of_shard(const std::vector<std::filesystem::path>& files, const Shard& shard);

// ---------------------------------------------------------------------------------------------------------
// Genre tags (src/library/audio_tags.cpp, tag_files.cpp)
// ---------------------------------------------------------------------------------------------------------

enum class TagField { genre, comment };

struct TagOptions {
  TagField field = TagField::genre;
  // What is written: {genre} (the class name, "hiphop"), {Genre} (capitalised, "Hiphop") and {confidence}
  // (its probability, "0.87"); any other text is kept as it is.
  std::string format = "{genre}";
  bool write = false;  // false: a dry run that reports what it would write and touches nothing
  bool only_untagged = false;  // files whose field holds a value are left alone (not even classified)
  // The SQLite journal: required when writing; in a dry run optional (read only: files it lists as done
  // are reported as such).
  std::filesystem::path journal;
  WindowOptions windows;
  int group = 32;  // files classified together before their tags are written, [1, 4096]
  // When it becomes true the run ends after the file in hand (Ctrl-C); a rerun goes on from there.
  const std::atomic<bool>* stop = nullptr;
  void validate() const;
};

// ---------------------------------------------------------------------------------------------------------
// A library's own genre tags as labels (src/library/tagged_library.cpp): `genrenet train --from-tags`
// ---------------------------------------------------------------------------------------------------------

// How the genre tags of a library become classes. A tag's values are split at ";", ",", "/" and "|"
// ("Rock; Alternative" is two genres), ID3v1's numbers read as their names ("(7)", "7" -> Hip-Hop), and each
// name normalised: lower case without spaces, hyphens, underscores, dots or apostrophes ("Hip-Hop", "hip
// hop" -> "hiphop"), then the genre map's aliases applied. A file naming several learnt genres counts for
// the first of them (`several` "first") or is left out ("skip"). Genres with fewer than `min_per_genre`
// files are left out and listed (their files count for another genre they name, if any).
struct GenreTagOptions {
  std::vector<std::string> libraries;  // folders (searched recursively) and audio files; "@list.txt" reads a list
  // A TOML or JSON file: each key a genre, its value the names (or one name) that mean it:
  //   hiphop = ["Hip Hop", "Rap", "Trap"]     electronic = ["Techno", "House", "EDM"]
  std::string genre_map;
  int min_per_genre = 10;
  std::string several = "first";
  void validate() const;
};

struct TaggedLibrary {
  Dataset data;  // classes: the learnt genres, sorted; a clip's id is its file's absolute path
  std::vector<std::pair<std::string, int>> left_out;  // genres under min_per_genre and their file counts
  std::vector<std::filesystem::path> untagged;        // no genre tag (or none that can be read): what `tag` fills
  int several = 0;                                    // files naming more than one learnt genre
  std::vector<std::string> errors;                    // files whose tags TagLib could not read, and why
  std::string to_json() const;                        // counts per genre, what was left out, how many untagged
};

// Reads every file's tags (TagLib) and labels those that name a learnt genre. Error when a library is missing,
// the genre map cannot be read, or fewer than two genres remain.
TaggedLibrary scan_tagged_library(const GenreTagOptions& options);

// One genre name as the rules above normalise it ("Hip-Hop" -> "hiphop", "(7)" -> "hiphop"); "" for none.
std::string normalise_genre(const std::string& name);
// A genre field's values split and normalised, each genre once, in order ({"Rock; Hip-Hop"} -> rock, hiphop).
std::vector<std::string> normalise_genres(const std::vector<std::string>& values);

// What became of one file. The status is one of:
//   "would write"  a dry run would write new_value;   "written"    it was written (journal updated);
//   "unchanged"    the field already says new_value;  "left alone" the answer is unknown (message: why);
//   "done before"  the journal has it, content unchanged since;    "error" (message: what; the run goes on);
//   "restored"     undo_tags put the old value back.
struct TagOutcome {
  std::filesystem::path file;
  std::string status;
  std::string old_value, new_value;  // the field as players read it ("" when absent)
  std::string genre;                 // the model's answer ("unknown" when left alone)
  double confidence = 0;             // the top genre's probability
  std::string message;
};

struct TagReport {
  int would_write = 0, written = 0, unchanged = 0, left_alone = 0, done_before = 0, errors = 0, restored = 0;
  bool interrupted = false;  // TagOptions::stop ended it early
  void count(const TagOutcome& o);
};

// Classifies `files` with `classifier` (its UnknownOptions decide which answers are "unknown" and so left
// alone) and writes or previews their tags. `each` sees every file's outcome as it is decided, `done(n)`
// counts finished files (for a progress bar). Never throws for one bad file: that is an "error" outcome.
// Throws Error for a bad option, a journal that cannot be opened or one made by another model or field.
TagReport tag_files(const Classifier& classifier, const std::vector<std::filesystem::path>& files, const TagOptions& options,
                    const std::function<void(const TagOutcome&)>& each = {},
                    const std::function<void(std::size_t)>& done = {});

// Puts back every value a journal's "written" files had before genrenet wrote them (the same safe write), for
// files whose content is still what genrenet left; a file changed since is an "error" outcome, left alone.
TagReport undo_tags(const std::filesystem::path& journal, const std::function<void(const TagOutcome&)>& each = {});

// The field of one file as players read it ("" when absent); Error naming the file when TagLib cannot read
// it or its format holds no tags (AU, raw).
std::string read_tag(const std::filesystem::path& file, TagField field);

}  // namespace genrenet
