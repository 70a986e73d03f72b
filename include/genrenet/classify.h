// genrenet/classify.h — what a classification asks and answers: the options of a Classifier, the windows over
// audio of any length, when the answer is "unknown", and the Classification itself with its one JSON form.
// (genrenet/classifier.h is the Classifier; genrenet/explain.h and genrenet/embed.h are the other two things
// it does.) No LibTorch headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <genrenet/genrenet.h>

namespace genrenet {

// When the answer is "unknown" instead of a genre (the ranked candidates are still given). Off by default.
struct UnknownOptions {
  double min_confidence = 0;         // [0, 1]: a top probability below it is "unknown"; 0: never
  bool out_of_distribution = false;  // also "unknown" when the audio's energy score is above the model's
                                     // threshold (ConfidenceCalibration, genrenet/model.h)
  void validate() const;
};

struct ClassifierOptions {
  int threads = 0;                 // threads for the model and for feature extraction (0: every core)
  std::string precision = "auto";  // "fp32", "fp32-cl", "bf16", "int8" (calibrated models) or "auto" (measured:
                                   // the fastest on this CPU, cached; genrenet/compute.h)
  std::string device = "cpu";      // or "cuda" when LibTorch has CUDA
  int batch = 16;                  // windows per model call, [1, 1024]
  double max_seconds = 0;          // refuse longer audio; 0: the model's own limit (features.audio.max_seconds)
  bool calibrated = true;          // apply the model's temperature (when it has one); false: the raw softmax
  UnknownOptions unknown;          // when to answer "unknown"
};

// How audio of any length becomes model inputs. Audio no longer than the model input (1024 frames, 32.8 s
// at the paper's settings) is one input, padded, exactly as in training. Longer audio is cut into windows of
// `window_seconds` every `hop_seconds` (the last one aligned to the end) whose probabilities are averaged;
// with `windows` false it is one centre crop instead. A window is at most the model input long, and the hop at
// most a window, so that every part of the audio is heard.
struct WindowOptions {
  static constexpr int kMaxOverlap = 64;  // windows covering one instant at most: bounds a request's cost
  bool windows = true;
  double window_seconds = 30.0;  // [1, 900]; at most the model input length is used
  double hop_seconds = 15.0;     // [window_seconds / kMaxOverlap, 900]
  bool per_window = false;       // also report each window's probabilities
  void validate() const;
};

struct GenreScore {
  std::string genre;
  float probability = 0;
};

struct WindowScores {
  double start_seconds = 0, end_seconds = 0;
  std::vector<GenreScore> ranked;  // most probable first
};

struct Classification {
  static constexpr const char* kUnknown = "unknown";
  std::string genre;                 // the answer: the most probable genre, or kUnknown (UnknownOptions)
  std::string unknown_reason;        // why the answer is kUnknown ("" otherwise)
  std::vector<float> probabilities;  // in the model's class order (Classifier::classes())
  std::vector<GenreScore> ranked;    // every genre, most probable first (the candidates, also when unknown)
  double temperature = 1;            // the probabilities are softmax(logits / temperature), windows averaged
  // The out-of-distribution score (ConfidenceCalibration): the mean over windows of -logsumexp(logits).
  // Higher is less like the training data; above `energy_threshold` (when the model has one) it is out.
  double energy = 0;
  std::optional<double> energy_threshold;
  bool out_of_distribution() const { return energy_threshold && energy > *energy_threshold; }
  // Sets genre and unknown_reason from the ranking and the energy as `u` says (the server's per-request rule).
  void decide(const UnknownOptions& u);
  std::vector<WindowScores> windows; // with WindowOptions::per_window
  int window_count = 0;
  double duration_seconds = 0;       // of the audio
  double seconds_taken = 0;          // decoding, features and model
  // The one JSON form of a classification (predict --format jsonl, the server, docs/SERVING.md): genre,
  // unknown_reason (when unknown), ranked (the `top` most probable: [{genre, probability}]), probabilities
  // ({genre: p}), temperature, energy, energy_threshold and out_of_distribution (when the model has a
  // threshold), duration_s, windows, seconds, and per_window ([{start_s, end_s, ranked}]) when asked for.
  std::string to_json(std::size_t top = SIZE_MAX) const;
};

// One entry of a batch: the file and either its classification or the error that stopped it.
struct FileClassification {
  std::filesystem::path file;
  std::string error;  // empty when it worked
  Classification result;
};

// Every audio file under the given paths: files as they are, folders searched recursively for known audio
// extensions (sorted), and "@list.txt" for a file holding one path per line (# comments allowed).
std::vector<std::filesystem::path> collect_audio_files(const std::vector<std::string>& inputs);

}  // namespace genrenet
