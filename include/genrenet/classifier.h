// genrenet/classifier.h — use a trained genrenet model from any C++ program.
//
//   genrenet::Classifier clf("model.safetensors");        // load once
//   auto r = clf.classify_file("song.mp3");               // any length: 30-s windows, averaged
//   std::printf("%s %.2f\n", r.ranked[0].genre.c_str(), r.ranked[0].probability);
//
// A Classifier is safe to use from several threads at once: classification only reads the model. The model's
// own feature options (stored in the model file) are always used, so audio is prepared exactly as it was in
// training. This header needs no LibTorch headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
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

// Why the model names a genre: Grad-CAM (Selvaraju et al., 2017) of its last convolutional stage, for every
// window of the audio (as classify cuts them), upsampled to the window's mel x frame grid and averaged where
// windows overlap. Computed in fp32 whatever the classifier's precision.
struct ExplainOptions {
  std::string genre;      // the genre to explain; "": the most probable
  WindowOptions windows;  // where the windows lie (windows = false is treated as true: every part is mapped)
};

struct WindowExplanation {
  double start_seconds = 0, end_seconds = 0;
  std::vector<float> time_mass;  // the share of the window's map in each second of it (sums to 1; 0s if empty)
  std::vector<float> band_mass;  // the share in each frequency band of Explanation::bands (sums to 1)
};

struct Explanation {
  std::string genre;    // the genre explained
  float probability = 0;  // its probability for the whole audio (fp32, windows averaged)
  Spectrogram log_mel;  // the whole audio's standardised log-mel, as plotted
  Spectrogram map;      // the same shape, in [0, 1]: 1 where the evidence for `genre` is strongest
  std::vector<std::pair<double, double>> bands;  // low and high edge in Hz of each band of band_mass
  std::vector<WindowExplanation> windows;
  double duration_seconds = 0;
  // genre, probability, duration_s, bands, windows (each with start_s, end_s, time_mass, band_mass).
  std::string to_json() const;
};

// Where audio lies in "sounds like" space: the network's pooled penultimate features (layer4 averaged over
// frequency and time: 512 values for ResNet-18/34, 2048 for ResNet-50/SE-ResNet-50), averaged over the
// audio's windows (as classify cuts them) and L2-normalised, so that the inner product of two embeddings is
// their cosine similarity. Computed in fp32 whatever the classifier's precision. (All zeros only if every
// feature is zero, as for an input the network does not respond to at all.)
struct Embedding {
  std::vector<float> values;
  int window_count = 0;
  double duration_seconds = 0;
};

// One entry of a batch of embeddings: the file and either its embedding or the error that stopped it.
struct FileEmbedding {
  std::filesystem::path file;
  std::string error;
  Embedding result;
};

// One entry of a batch: the file and either its classification or the error that stopped it.
struct FileClassification {
  std::filesystem::path file;
  std::string error;  // empty when it worked
  Classification result;
};

class Classifier {
 public:
  // Reads a genrenet model file (.safetensors written by `genrenet train`); throws Error on a bad file.
  explicit Classifier(const std::filesystem::path& model_file, const ClassifierOptions& options = {});
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  const std::vector<std::string>& classes() const;
  const FeatureOptions& features() const;  // the model's own, from its file
  // The model file and the identity of its weights, computed once, when the classifier read it: what
  // embedding stores, similarity indexes and tag journals record, and compare.
  const ModelIdentity& identity() const;
  // The model's calibration (empty() when it has none) and whether the probabilities apply its temperature
  // (ClassifierOptions::calibrated); the rule of "unknown" answers this classifier was made with.
  const ConfidenceCalibration& calibration() const;
  bool applies_temperature() const;
  const UnknownOptions& unknown() const;
  // The model as JSON: architecture, classes, input shape, feature options, precision, calibration (and
  // whether it is applied), the unknown rule, training summary.
  std::string describe_json() const;

  // Mono samples at `sample_rate` (resampled and quantised as the model's features say).
  Classification classify(std::span<const float> samples, int sample_rate, const WindowOptions& w = {}) const;
  // An audio file, or an encoded file in memory (`name` appears in error messages).
  Classification classify_file(const std::filesystem::path& file, const WindowOptions& w = {}) const;
  Classification classify_bytes(std::span<const unsigned char> bytes, const std::string& name,
                                 const WindowOptions& w = {}) const;
  // Many files: features on every thread, windows of several files batched through the model. Never
  // throws for one bad file: its entry carries the error. `done(n)` is called as files finish.
  std::vector<FileClassification> classify_files(const std::vector<std::filesystem::path>& files,
                                                 const WindowOptions& w = {},
                                                 const std::function<void(std::size_t)>& done = {}) const;

  // Why `genre` (ExplainOptions): Grad-CAM over the log-mel. Safe from several threads, like classify.
  Explanation explain(std::span<const float> samples, int sample_rate, const ExplainOptions& o = {}) const;
  Explanation explain_file(const std::filesystem::path& file, const ExplainOptions& o = {}) const;
  Explanation explain_bytes(std::span<const unsigned char> bytes, const std::string& name,
                            const ExplainOptions& o = {}) const;

  // Embeddings (Embedding): of samples, a file, an encoded file in memory, or many files (features on every
  // thread; never throws for one bad file). Safe from several threads, like classify.
  int embedding_size() const;
  Embedding embed(std::span<const float> samples, int sample_rate, const WindowOptions& w = {}) const;
  Embedding embed_file(const std::filesystem::path& file, const WindowOptions& w = {}) const;
  Embedding embed_bytes(std::span<const unsigned char> bytes, const std::string& name, const WindowOptions& w = {}) const;
  std::vector<FileEmbedding> embed_files(const std::vector<std::filesystem::path>& files, const WindowOptions& w = {},
                                         const std::function<void(std::size_t)>& done = {}) const;

  // The standardised log-mel of audio as the model sees it (whole length, before windowing), for plots.
  Spectrogram log_mel(std::span<const float> samples, int sample_rate) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An explanation as a picture (PNG bytes): the log-mel in grey, the map over it in magma, time in seconds,
// frequency in Hz, a colour bar, and the genre with its probability in the title.
std::string explanation_png(const Explanation& e, const FeatureOptions& features, const FigureOptions& fig = {});

// Every audio file under the given paths: files as they are, folders searched recursively for known audio
// extensions (sorted), and "@list.txt" for a file holding one path per line (# comments allowed).
std::vector<std::filesystem::path> collect_audio_files(const std::vector<std::string>& inputs);

}  // namespace genrenet
