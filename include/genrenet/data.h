// genrenet's data stage (src/data): datasets on disk, splits, the feature cache, synthetic genres. Needs no
// LibTorch headers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <genrenet/genrenet.h>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Datasets (src/data/dataset.cpp)
// ---------------------------------------------------------------------------------------------------------

struct Clip {
  std::filesystem::path path;
  int label = -1;
  std::string id;  // "<class>/<file stem>", e.g. "jazz/jazz.00054": how split lists name clips
  // From the file's tags (datasets labelled by genre tags, genrenet/library.h); empty otherwise. The
  // "album" and "artist" splits keep each album (album artist and title) or artist on one side.
  std::string artist, album;
};

struct Dataset {
  std::filesystem::path root;        // the folder whose sub-folders are the classes
  std::vector<std::string> classes;  // sorted folder names
  std::vector<Clip> clips;           // sorted by id
};

// GTZAN in any common layout — genres/<genre>/*.au (the original), genres_original/<genre>/*.wav (Kaggle,
// also under Data/) — or any <root>/<class>/<audio files> tree. A missing folder, or one without any
// class folder holding audio, is an Error naming it.
Dataset scan_dataset(const std::filesystem::path& dir);

// ---------------------------------------------------------------------------------------------------------
// Splits (src/data/splits.cpp)
// ---------------------------------------------------------------------------------------------------------

struct Split {
  std::string spec;                     // how it was made, e.g. "paper", "sturm", "kfold:5/2"
  std::vector<std::string> train, valid, test;  // clip ids
  std::vector<std::string> not_found;   // list entries without a clip in the dataset
  // The clip ids of the subset "train", "valid" or "test"; any other name is an Error.
  const std::vector<std::string>& subset(const std::string& name) const;
  std::string to_json() const;
  static Split from_json(const std::string& json);
};

// The clips a list of split ids names, in the list's order; ids without a clip in `data` are `missing`.
struct SplitClips {
  std::vector<Clip> clips;
  std::vector<std::string> missing;
};
SplitClips find_clips(const Dataset& data, const std::vector<std::string>& ids);

// spec: "paper" (stratified 80/10/10 with `seed`), "album" or "artist" (the same over whole albums or
// artists, Clip::album and Clip::artist: each on one side only; a clip without the tag is a group of its
// own), "sturm" (train/valid/test_filtered.txt from
// `split_dir`), "kfold:K" (stratified; `fold` in [0, K) is the test fold, a tenth of each class's other
// clips validates, the rest trains), or "lists:TRAIN,VALID,TEST" (files of clip ids or paths, one per line).
Split make_split(const Dataset& data, const std::string& spec, unsigned seed, const std::filesystem::path& split_dir = {},
                 int fold = 0);
int kfold_count(const std::string& spec);  // K for "kfold:K", 0 otherwise

// ---------------------------------------------------------------------------------------------------------
// Feature cache (src/data/feature_cache.cpp)
// ---------------------------------------------------------------------------------------------------------

// Log-mel spectrograms (dB, full length) keyed by the file's content (SHA-256) and by the options that
// shape them: a changed file or option is recomputed, an unchanged one never. Entries are .npy files
// written atomically, each by one writer (a lock file per group of entries), so several processes may fill
// one cache at once and each clip is computed once; a damaged entry is detected and rebuilt.
class FeatureCache {
 public:
  FeatureCache(std::filesystem::path dir, FeatureOptions options);
  const std::filesystem::path& dir() const { return dir_; }
  const FeatureOptions& options() const { return extractor_.options(); }

  struct Result {
    std::vector<Spectrogram> spectrograms;  // one per input; empty (n_frames 0) where it failed
    std::vector<std::string> errors;        // "" where it worked
    int computed = 0, reused = 0, failed = 0;
  };
  // All files, in parallel over `threads`, with a progress bar labelled `label`.
  Result load(const std::vector<std::filesystem::path>& files, int threads, const std::string& label = "features");

 private:
  Spectrogram load_one(const std::filesystem::path& file, bool& computed);
  std::optional<Spectrogram> read_entry(const std::filesystem::path& entry) const;
  std::filesystem::path dir_;
  FeatureExtractor extractor_;
};

// $XDG_CACHE_HOME/genrenet/features, or ~/.cache/genrenet/features.
std::filesystem::path default_feature_cache_dir();

// ---------------------------------------------------------------------------------------------------------
// Synthetic genres (src/data/synth.cpp)
// ---------------------------------------------------------------------------------------------------------

// The ten GTZAN genre names, each a small procedural style: its own tempo range, drum pattern, bass,
// harmony, timbre and noise colour, randomised per clip (key, tempo, pattern variations, levels, mix).
const std::vector<std::string>& synthetic_genres();
std::vector<float> synthesize_genre_clip(int genre, double seconds, int sample_rate, std::uint32_t seed);
// Writes <out>/<genre>/<genre>.000NN.wav for every genre; returns the number of files.
int write_synthetic_dataset(const std::filesystem::path& out, int per_class, double seconds, std::uint32_t seed,
                            int sample_rate = 22050);

}  // namespace genrenet
