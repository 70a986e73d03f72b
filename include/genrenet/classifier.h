// genrenet/classifier.h — use a trained genrenet model from any C++ program.
//
//   genrenet::Classifier clf("model.safetensors");        // load once
//   auto r = clf.classify_file("song.mp3");               // any length: 30-s windows, averaged
//   std::printf("%s %.2f\n", r.ranked[0].genre.c_str(), r.ranked[0].probability);
//
// A Classifier is safe to use from several threads at once: classification only reads the model. The model's
// own feature options (stored in the model file) are always used, so audio is prepared exactly as it was in
// training. What it asks and answers is in genrenet/classify.h, genrenet/explain.h and genrenet/embed.h
// (included here), one header for each thing a user does with it. No LibTorch headers.
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

#include <genrenet/classify.h>
#include <genrenet/embed.h>
#include <genrenet/explain.h>
#include <genrenet/genrenet.h>

namespace genrenet {

class Classifier {
 public:
  // Reads a genrenet model file (.safetensors written by `genrenet train`); throws Error on a bad file.
  explicit Classifier(const std::filesystem::path& model_file, const ClassifierOptions& options = {});
  // A classifier made for embeddings: its network in fp32 whatever options.precision says (fp32 or fp32-cl,
  // whichever measures faster here), which embed() then uses as it is instead of folding a float network
  // beside an int8 or bf16 one. It classifies too, in that precision. `genrenet embed`, `index` and `similar`
  // make theirs so.
  static Classifier for_embeddings(const std::filesystem::path& model_file, const ClassifierOptions& options = {});
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  const std::vector<std::string>& classes() const;
  const FeatureOptions& features() const;  // the model's own, from its file
  // The model file and the identity of its weights, computed once, on first use (from the file as it is
  // then): what embedding stores, similarity indexes and tag journals record, and compare.
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
  Classifier(const std::filesystem::path& model_file, const ClassifierOptions& options, bool float_network);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genrenet
