// The Classifier: a model file loaded once; audio of any length -> windows -> averaged genre probabilities.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "audio/reused_audio.h"
#include "common/option_tables.h"
#include "common/parallel.h"
#include "infer/classification_json.h"
#include "infer/explain.h"
#include "infer/inference.h"
#include "infer/windowed_scorer.h"
#include "compute/torch_threads.h"

namespace genrenet {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One audio's model inputs and where each window lies.
struct Windows {
  AudioWindows audio;
  std::vector<std::pair<double, double>> spans;  // seconds
  double duration_seconds = 0;
};

}  // namespace

struct Classifier::Impl {
  ModelFile meta;  // classes, options, training summary; the weights are dropped once loaded
  // Read on first use: hashing the weights (45 MB for ResNet-18) is not start-up work for the classifiers
  // that never record an identity (predict, serve without an index).
  mutable std::once_flag identity_read;
  mutable ModelIdentity identity;
  InferenceNet net;
  FeatureExtractor fx;
  ClassifierOptions options;

  AudioOptions decode;  // the model's audio options, with ClassifierOptions::max_seconds
  double temperature = 1;  // the model's calibration, unless turned off
  int embedding_size = 0;  // pooled penultimate features (fc's inputs)

  // Explanations need the network with autograd, in fp32: read from the file on the first explain().
  std::filesystem::path file;
  mutable std::once_flag fp32_loaded;
  mutable ResNet fp32{nullptr};
  // Embeddings need a float network (float_network): folded from the file on the first embed() when `net` is not.
  mutable std::once_flag float_folded;
  mutable std::optional<InferenceNet> float_net;

  Impl(ModelFile mf, InferenceNet n, const ClassifierOptions& o, std::filesystem::path model_file)
      : meta(std::move(mf)), net(std::move(n)), fx(meta.features), options(o), file(std::move(model_file)) {
    decode = meta.features.audio;
    if (o.max_seconds > 0) decode.max_seconds = o.max_seconds;
    if (o.calibrated && !meta.calibration.empty()) temperature = meta.calibration.temperature;
  }

  // The model inputs of a whole log-mel (in dB), as WindowOptions say (in seconds; cut_windows in frames).
  Windows cut(Spectrogram log_mel, size_t n_samples, const WindowOptions& w) const {
    const FeatureOptions& fo = meta.features;
    const WindowFrames f = window_frames(w, fo);
    Windows out;
    out.duration_seconds = static_cast<double>(n_samples) / fo.audio.sample_rate;
    const bool whole = log_mel.n_frames <= fo.frames;
    out.audio = cut_windows(std::move(log_mel), fo, f.window, f.hop, w.windows);
    if (!w.windows && !whole) {
      out.spans.emplace_back(0.0, out.duration_seconds);  // one centre crop of the whole
      return out;
    }
    for (int s : out.audio.starts)
      out.spans.emplace_back(s * f.frame_seconds,
                             whole ? out.duration_seconds : std::min(out.duration_seconds, (s + f.length) * f.frame_seconds));
    return out;
  }

  // Less than one analysis window is not audio to classify: its spectrogram would be mostly the STFT's
  // padding, and the model would still name a genre for it.
  void check_length(std::span<const float> samples) const {
    const int n_fft = meta.features.n_fft;
    if (samples.size() < static_cast<size_t>(n_fft))
      throw Error("audio", "too short to classify: " + std::to_string(samples.size()) + " samples at " +
                               std::to_string(meta.features.audio.sample_rate) + " Hz; at least one analysis window (n_fft = " +
                               std::to_string(n_fft) + " samples) is needed");
  }

  Windows windows_of_samples(std::span<const float> samples, const WindowOptions& w) const {
    check_length(samples);
    return cut(fx.log_mel(samples), samples.size(), w);
  }

  // The network with autograd, in fp32, read from the model file once (explain).
  ResNet& fp32_network() const {
    std::call_once(fp32_loaded, [this] {
      fp32 = load_model(read_model_file(file));
      fp32->eval();
    });
    return fp32;
  }

  // Embeddings are computed in float whatever the classifier's precision: an index holds files embedded on
  // several machines, whose int8 or bf16 would move them by about a percent. `net` itself when it is a float
  // network; otherwise one folded from the file once, fp32 or fp32-cl as measured (make_float_inference_net).
  const InferenceNet& float_network() const {
    if (net.precision() == Precision::Fp32 || net.precision() == Precision::Fp32ChannelsLast) return net;
    std::call_once(float_folded, [this] {
      ModelFile mf = read_model_file(file);
      float_net.emplace(make_float_inference_net(fold_model_file(mf, /*release_weights=*/true), mf,
                                                 {options.device, "auto", options.threads}, options.batch));
    });
    return *float_net;
  }

  Explanation explain(std::span<const float> samples, const ExplainOptions& o) const {
    o.windows.validate();
    check_length(samples);
    return explain_log_mel(fp32_network(), meta, fx.log_mel(samples), samples.size(), o, temperature);
  }

  // Every window's layer4 features pooled over frequency and time, averaged over the windows, L2-normalised.
  Embedding embed(Windows win) const {
    const InferenceNet& network = float_network();
    torch::Tensor sum;
    for (size_t b = 0; b < win.audio.inputs.size(); b += static_cast<size_t>(options.batch)) {
      const size_t n = std::min<size_t>(options.batch, win.audio.inputs.size() - b);
      // The spectrogram once, as classification gives it (a 3-channel model's channels repeat it).
      const torch::Tensor x = stack_spectrograms(std::span(win.audio.inputs).subspan(b, n), 1).to(network.device());
      const torch::Tensor pooled = network.trunk(x, 4).mean({2, 3}).sum(0).cpu();
      sum = sum.defined() ? sum + pooled : pooled;
    }
    const torch::Tensor mean = sum / static_cast<double>(win.audio.inputs.size());
    const double norm = mean.norm().item<double>();
    const torch::Tensor unit = (norm > 0 ? mean / norm : mean).contiguous();
    Embedding e;
    e.values.assign(unit.data_ptr<float>(), unit.data_ptr<float>() + unit.numel());
    e.window_count = static_cast<int>(win.audio.inputs.size());
    e.duration_seconds = win.duration_seconds;
    return e;
  }

  std::vector<GenreScore> rank(const float* p) const {
    std::vector<GenreScore> r(meta.classes.size());
    for (size_t i = 0; i < r.size(); ++i) r[i] = {meta.classes[i], p[i]};
    std::stable_sort(r.begin(), r.end(), [](auto& a, auto& b) { return a.probability > b.probability; });
    return r;
  }

  // Audio k of a scoring as one classification.
  Classification summarise(const WindowProbabilities& p, size_t k, const Windows& win, const WindowOptions& w) const {
    const int64_t first = p.first[k], count = p.first[k + 1] - first;
    torch::Tensor mean = p.mean[static_cast<int64_t>(k)].contiguous();
    Classification c;
    c.probabilities.assign(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
    c.ranked = rank(c.probabilities.data());
    c.window_count = static_cast<int>(count);
    c.duration_seconds = win.duration_seconds;
    c.temperature = p.temperature;
    c.energy = p.energy[static_cast<int64_t>(k)].item<double>();
    if (!meta.calibration.empty()) c.energy_threshold = meta.calibration.energy_threshold;
    if (w.per_window)
      for (int64_t j = 0; j < count; ++j)
        c.windows.push_back({win.spans[j].first, win.spans[j].second, rank(p.window[first + j].data_ptr<float>())});
    c.decide(options.unknown);
    return c;
  }

  // The files of a batch decoded and cut into windows `chunk` at a time on `threads` threads (a chunk bounds
  // memory on long lists of long files), then `finish(begin, windows, feature_seconds)` for each chunk. When
  // the network runs on a GPU, the next chunk is decoded while `finish` runs it on this one (two chunks in
  // memory at most), so the cores are not idle while the GPU works. On the CPU the network already uses
  // every core: decoding beside it was 5-10% slower on the 2-core VM (docs/PERFORMANCE.md), so there the
  // chunks take turns. GENRENET_DECODE_AHEAD=1 or 0 forces either. Entry i of `out` (FileClassification,
  // FileEmbedding) gets its file and, when it could not be read, its error.
  template <class Entry, class Finish>
  void decode_in_chunks(const std::vector<std::filesystem::path>& files, const WindowOptions& w, size_t chunk, int threads,
                        std::vector<Entry>& out, const std::function<void(std::size_t)>& done, Finish&& finish) const {
    struct Decoded {
      std::vector<Windows> wins;
      std::vector<double> seconds;
    };
    // Writes only the entries of its own chunk: safe beside `finish` on another chunk.
    auto decode_chunk = [&](size_t begin) {
      const size_t end = std::min(files.size(), begin + chunk);
      Decoded d{std::vector<Windows>(end - begin), std::vector<double>(end - begin, 0)};
      parallel_for(end - begin, threads, [&](size_t k) {
        const size_t i = begin + k;
        out[i].file = files[i];
        const auto t0 = std::chrono::steady_clock::now();
        try {
          d.wins[k] = windows_of_samples(load_audio_reusing_buffers(files[i], decode).samples, w);
        } catch (const std::exception& e) {
          out[i].error = e.what();
        }
        d.seconds[k] = seconds_since(t0);
      });
      return d;
    };
    if (files.empty()) return;
    const std::launch policy = ahead_or_in_turn("GENRENET_DECODE_AHEAD", net.device().is_cuda());
    const bool ahead = policy == std::launch::async;  // else deferred: decoded at get()
    std::future<Decoded> next = std::async(policy, decode_chunk, size_t{0});
    for (size_t begin = 0; begin < files.size(); begin += chunk) {
      Decoded d = next.get();
      if (begin + chunk < files.size()) next = std::async(policy, decode_chunk, begin + chunk);
      // A throw from `finish` must not leave the decoding thread writing into `out` after it is gone.
      struct Join {
        std::future<Decoded>& f;
        bool ahead;
        ~Join() {
          if (ahead && f.valid()) f.wait();
        }
      } join{next, ahead};
      finish(begin, d.wins, d.seconds);
      if (done) done(std::min(files.size(), begin + chunk) - begin);
    }
  }

  Classification run_one(Windows win, const WindowOptions& w, std::chrono::steady_clock::time_point t0) const {
    std::vector<AudioWindows> one;
    one.push_back(std::move(win.audio));
    Classification c = summarise(score_windows(net, one, options.batch, temperature), 0, win, w);
    c.seconds_taken = seconds_since(t0);
    return c;
  }
};

Classifier::Classifier(const std::filesystem::path& model_file, const ClassifierOptions& o)
    : Classifier(model_file, o, /*float_network=*/false) {}

Classifier Classifier::for_embeddings(const std::filesystem::path& model_file, const ClassifierOptions& o) {
  return Classifier(model_file, o, /*float_network=*/true);
}

Classifier::Classifier(const std::filesystem::path& model_file, const ClassifierOptions& o, bool float_network) {
  classifier_options_table().validate(o);
  ModelFile mf = read_model_file(model_file);
  if (o.unknown.out_of_distribution && mf.calibration.empty())
    throw Error(model_file.string(), "has no out-of-distribution threshold (it was not calibrated): calibrate its run "
                                     "with `genrenet calibrate RUN_FOLDER`, or answer without the out-of-distribution rule");
  const ComputeOptions compute{o.device, o.precision, o.threads};
  compute.validate();
  set_torch_threads(resolve_threads(o.threads));
  const auto fc = mf.weights.find("fc.weight");  // [classes, pooled features]: the embedding's size
  const int embedding_size = fc == mf.weights.end() ? 0 : static_cast<int>(fc->second.size(1));
  // The file's weights are released as soon as the network holds them: the folded network and the int8
  // weights reuse that memory.
  InferenceNet folded = fold_model_file(mf, /*release_weights=*/true);
  InferenceNet net = float_network ? make_float_inference_net(std::move(folded), mf, compute, o.batch)
                                   : make_inference_net(std::move(folded), mf, compute, o.batch);
  impl_ = std::make_unique<Impl>(std::move(mf), std::move(net), o, model_file);
  impl_->embedding_size = embedding_size;
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

const std::vector<std::string>& Classifier::classes() const { return impl_->meta.classes; }
const FeatureOptions& Classifier::features() const { return impl_->meta.features; }
const ModelIdentity& Classifier::identity() const {
  std::call_once(impl_->identity_read, [this] { impl_->identity = model_identity(impl_->file); });
  return impl_->identity;
}
const ConfidenceCalibration& Classifier::calibration() const { return impl_->meta.calibration; }
bool Classifier::applies_temperature() const { return impl_->options.calibrated && !impl_->meta.calibration.empty(); }
const UnknownOptions& Classifier::unknown() const { return impl_->options.unknown; }

std::string Classifier::describe_json() const {
  const ModelFile& m = impl_->meta;
  nlohmann::json training = nlohmann::json::object();
  try {
    training = nlohmann::json::parse(m.training_json);
  } catch (const std::exception&) {
  }
  nlohmann::json calibration = nullptr;
  if (!m.calibration.empty()) {
    calibration = nlohmann::json::parse(m.calibration.to_json());
    calibration["applied"] = impl_->options.calibrated;
  }
  return nlohmann::json({{"architecture", m.model.arch},
                         {"classes", m.classes},
                         {"input", {{"channels", m.model.input_channels}, {"n_mels", m.features.n_mels},
                                    {"frames", m.features.frames}}},
                         {"features", nlohmann::json::parse(m.features.to_json())},
                         {"precision", precision_name(impl_->net.precision())},
                         {"int8_calibrated", !m.int8.empty()},
                         {"calibration", calibration},
                         {"unknown", {{"min_confidence", impl_->options.unknown.min_confidence},
                                      {"out_of_distribution", impl_->options.unknown.out_of_distribution}}},
                         {"device", impl_->net.device().is_cuda() ? "cuda" : "cpu"},
                         {"training", training}})
      .dump();
}

Classification Classifier::classify(std::span<const float> samples, int sample_rate, const WindowOptions& w) const {
  w.validate();
  const auto t0 = std::chrono::steady_clock::now();
  Audio a = audio_from_samples(samples, sample_rate, "samples", impl_->decode);
  return impl_->run_one(impl_->windows_of_samples(a.samples, w), w, t0);
}

Classification Classifier::classify_file(const std::filesystem::path& file, const WindowOptions& w) const {
  w.validate();
  const auto t0 = std::chrono::steady_clock::now();
  Audio a = load_audio(file, impl_->decode);
  return impl_->run_one(impl_->windows_of_samples(a.samples, w), w, t0);
}

Classification Classifier::classify_bytes(std::span<const unsigned char> bytes, const std::string& name,
                                          const WindowOptions& w) const {
  w.validate();
  const auto t0 = std::chrono::steady_clock::now();
  Audio a = load_audio(bytes, name, impl_->decode);
  return impl_->run_one(impl_->windows_of_samples(a.samples, w), w, t0);
}

Explanation Classifier::explain(std::span<const float> samples, int sample_rate, const ExplainOptions& o) const {
  return impl_->explain(audio_from_samples(samples, sample_rate, "samples", impl_->decode).samples, o);
}

Explanation Classifier::explain_file(const std::filesystem::path& file, const ExplainOptions& o) const {
  return impl_->explain(load_audio(file, impl_->decode).samples, o);
}

Explanation Classifier::explain_bytes(std::span<const unsigned char> bytes, const std::string& name,
                                      const ExplainOptions& o) const {
  return impl_->explain(load_audio(bytes, name, impl_->decode).samples, o);
}

int Classifier::embedding_size() const { return impl_->embedding_size; }

Embedding Classifier::embed(std::span<const float> samples, int sample_rate, const WindowOptions& w) const {
  w.validate();
  Audio a = audio_from_samples(samples, sample_rate, "samples", impl_->decode);
  return impl_->embed(impl_->windows_of_samples(a.samples, w));
}

Embedding Classifier::embed_file(const std::filesystem::path& file, const WindowOptions& w) const {
  w.validate();
  return impl_->embed(impl_->windows_of_samples(load_audio(file, impl_->decode).samples, w));
}

Embedding Classifier::embed_bytes(std::span<const unsigned char> bytes, const std::string& name,
                                  const WindowOptions& w) const {
  w.validate();
  return impl_->embed(impl_->windows_of_samples(load_audio(bytes, name, impl_->decode).samples, w));
}

std::vector<FileEmbedding> Classifier::embed_files(const std::vector<std::filesystem::path>& files, const WindowOptions& w,
                                                   const std::function<void(std::size_t)>& done) const {
  w.validate();
  std::vector<FileEmbedding> out(files.size());
  const int threads = resolve_threads(impl_->options.threads);
  // Features of a chunk on every thread, then the network file by file.
  impl_->decode_in_chunks(files, w, static_cast<size_t>(std::max(4 * threads, 8)), threads, out, done,
                          [&](size_t begin, std::vector<Windows>& wins, const std::vector<double>&) {
    for (size_t k = 0; k < wins.size(); ++k) {
      if (!out[begin + k].error.empty()) continue;
      try {
        out[begin + k].result = impl_->embed(std::move(wins[k]));
      } catch (const std::exception& e) {
        out[begin + k].error = e.what();
      }
    }
  });
  return out;
}

Spectrogram Classifier::log_mel(std::span<const float> samples, int sample_rate) const {
  Spectrogram s = impl_->fx.log_mel(audio_from_samples(samples, sample_rate, "samples", impl_->decode).samples);
  if (impl_->meta.features.standardize) standardize(s);
  return s;
}

std::vector<FileClassification> Classifier::classify_files(const std::vector<std::filesystem::path>& files,
                                                           const WindowOptions& w,
                                                           const std::function<void(std::size_t)>& done) const {
  w.validate();
  std::vector<FileClassification> out(files.size());
  const int threads = resolve_threads(impl_->options.threads);
  // Features of a chunk on every thread, then its windows through the model in full batches.
  const size_t chunk = std::max<size_t>(static_cast<size_t>(impl_->options.batch) * 2, 4 * threads);
  impl_->decode_in_chunks(files, w, chunk, threads, out, done,
                          [&](size_t begin, std::vector<Windows>& wins, const std::vector<double>& feature_seconds) {
    std::vector<AudioWindows> scored;
    std::vector<size_t> scored_file;  // chunk positions of the files with windows
    size_t windows = 0;
    for (size_t k = 0; k < wins.size(); ++k) {
      if (!out[begin + k].error.empty()) continue;
      windows += wins[k].audio.inputs.size();
      scored.push_back(std::move(wins[k].audio));
      scored_file.push_back(k);
    }
    if (scored.empty()) return;
    const auto t0 = std::chrono::steady_clock::now();
    const WindowProbabilities p = score_windows(impl_->net, scored, impl_->options.batch, impl_->temperature);
    const double model_seconds_per_input = seconds_since(t0) / windows;
    for (size_t i = 0; i < scored_file.size(); ++i) {
      const size_t k = scored_file[i];
      auto& r = out[begin + k].result;
      r = impl_->summarise(p, i, wins[k], w);
      r.seconds_taken = feature_seconds[k] + model_seconds_per_input * r.window_count;
    }
  });
  return out;
}

namespace {

nlohmann::json ranked_json(const std::vector<GenreScore>& ranked, std::size_t top) {
  nlohmann::json a = nlohmann::json::array();
  for (std::size_t i = 0; i < ranked.size() && i < top; ++i)
    a.push_back({{"genre", ranked[i].genre}, {"probability", ranked[i].probability}});
  return a;
}

}  // namespace

nlohmann::json classification_json(const Classification& c, std::size_t top) {
  nlohmann::json probabilities = nlohmann::json::object();
  for (auto& g : c.ranked) probabilities[g.genre] = g.probability;
  // A Classification made by hand (not decided) answers its top genre.
  const std::string genre = !c.genre.empty() ? c.genre : c.ranked.empty() ? "" : c.ranked[0].genre;
  nlohmann::json j = {{"genre", genre},
                      {"ranked", ranked_json(c.ranked, top)},
                      {"probabilities", probabilities},
                      {"temperature", c.temperature},
                      {"energy", c.energy},
                      {"duration_s", c.duration_seconds},
                      {"windows", c.window_count},
                      {"seconds", c.seconds_taken}};
  if (!c.unknown_reason.empty()) j["unknown_reason"] = c.unknown_reason;
  if (c.energy_threshold) {
    j["energy_threshold"] = *c.energy_threshold;
    j["out_of_distribution"] = c.out_of_distribution();
  }
  if (!c.windows.empty()) {
    nlohmann::json pw = nlohmann::json::array();
    for (auto& w : c.windows) pw.push_back({{"start_s", w.start_seconds}, {"end_s", w.end_seconds}, {"ranked", ranked_json(w.ranked, top)}});
    j["per_window"] = pw;
  }
  return j;
}

std::string Classification::to_json(std::size_t top) const {
  return classification_json(*this, top).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace genrenet
