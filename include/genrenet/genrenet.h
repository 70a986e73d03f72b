// genrenet: music genre classification after "Residual Analysis for Music Genre Classification"
// (Nuhin & Xia). This header is the audio and feature stage (no LibTorch headers); the other public headers,
// one per stage (compute, data, model, inference, evaluate, classifier, serve, distributed, train,
// experiments), build on it: docs/ARCHITECTURE.md.
//
// The pipeline runs one way:
//   audio file -> load_audio (decode, mono, resample, 16-bit) -> FeatureExtractor (log-mel, standardise,
//   fixed length) -> model.
// Every stage that turns audio into a model input goes through FeatureExtractor with a FeatureOptions value,
// and a trained model stores that value, so training and inference cannot drift apart.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

// Every failure the library reports about an input names that input (a file path, or a setting's name)
// and says what is wrong with it. what() is "<subject>: <reason>".
// What kind of failure an Error is, for callers that answer others (the HTTP server maps it to a status):
// input that cannot be used, input over a limit, something missing, no capacity now, or a fault of genrenet.
enum class ErrorKind { BadInput, TooLarge, NotFound, Busy, Internal };

class Error : public std::runtime_error {
 public:
  Error(std::string subject, std::string reason, ErrorKind kind = ErrorKind::BadInput);
  const std::string& subject() const noexcept { return subject_; }
  const std::string& reason() const noexcept { return reason_; }
  ErrorKind kind() const noexcept { return kind_; }

 private:
  std::string subject_;
  std::string reason_;
  ErrorKind kind_;
};

// ---------------------------------------------------------------------------------------------------------
// Log (src/common/log.cpp)
// ---------------------------------------------------------------------------------------------------------

// Everything the library reports as it works goes through one callback, as whisper.cpp's whisper_log_set:
//   Result   what a run reports as its outcome goes (a training run's per-epoch table, fold accuracies,
//            calibration); the genrenet program writes it on stdout;
//   Note     how the work goes (a measured choice, files recovered, a request served);
//   Warning  something skipped or repaired that the user should know of (an unreadable clip);
//   Error    a failure reported rather than thrown (a worker that cannot start).
// The message is one line without its newline; a Warning's or Error's has no "warning: " prefix (the
// default callback adds it). The default writes every level to stderr: the library never writes to stdout
// unless its caller's callback does. The callback may be called from any thread, one call at a time.
enum class LogLevel { Error, Warning, Note, Result };
using LogCallback = std::function<void(LogLevel, const std::string&)>;
// Replaces the callback for the whole process (an empty one restores the default); returns the previous.
LogCallback set_log_callback(LogCallback callback);
// A line as the default callback writes it: "warning: " or "error: " before those levels' messages.
std::string log_line(LogLevel level, const std::string& message);

// Process set-up for programs that process many files or train (the genrenet program calls it first):
// keeps freed memory in the process rather than returning it to the OS after every clip (without it each
// clip's buffers are fresh pages, and page faults cost 4x the feature work on a virtual machine), and puts
// LibTorch's tensors of 8 MiB and more on transparent huge pages (a third of the page faults of a
// prediction run), each freed block kept for the next tensor of its size (at most a quarter of the memory
// idle). GENRENET_HUGE_PAGES=0 in the environment keeps LibTorch's own allocator.
void tune_allocator_for_batch_work();

// ---------------------------------------------------------------------------------------------------------
// A model's identity and calibration (src/model/model_file.cpp), as the classifier and library hand them out
// ---------------------------------------------------------------------------------------------------------

// Which weights a model file holds: the sha256 of its tensor bytes (everything after the safetensors header),
// so that rewriting its metadata (a calibration, int8 ranges) does not make it another model. Embeddings
// and tag journals record it; a Classifier computes it once, when first asked.
struct ModelIdentity {
  std::filesystem::path file;  // as it was given
  std::string weights_sha256;
};
// Reads `model_file`'s identity; Error naming the file when it cannot be read.
ModelIdentity model_identity(const std::filesystem::path& model_file);

// How far the model's probabilities can be trusted, fitted on the validation split after training
// (`calibrate_run`, genrenet/train.h) and stored in the model file (metadata "calibration"):
// - a softmax temperature (Guo et al., 2017): probabilities = softmax(logits / temperature), the
//   temperature that minimises the validation clips' negative log-likelihood under a weak log-normal prior
//   (so that a few validation clips cannot drive it to certainty); the ranking is unchanged;
// - the out-of-distribution threshold of the energy score (Liu et al., 2020): an audio's energy is the mean
//   over its windows of -logsumexp(logits) (lower: more like the training data); the threshold is the
//   energy that `energy_tpr` of the validation clips do not exceed.
struct ConfidenceCalibration {
  double temperature = 1;         // (0.01, 100]
  double energy_threshold = 0;    // meaningful when clips > 0
  double energy_tpr = 0.95;       // the share of in-distribution (validation) clips kept, (0, 1]
  int clips = 0;                  // validation clips fitted on; 0: not calibrated
  std::string subset;             // what it was fitted on ("valid")
  double nll_before = 0, nll_after = 0;  // the validation clips' NLL at temperature 1 and at `temperature`
  double ece_before = 0, ece_after = 0;  // their expected calibration error (15 bins), same
  bool empty() const { return clips == 0; }
  std::string to_json() const;
  // Throws Error(subject, ...) on a malformed text or values out of range.
  static ConfidenceCalibration from_json(const std::string& text, const std::string& subject = "calibration");
};


// ---------------------------------------------------------------------------------------------------------
// Audio (src/audio)
// ---------------------------------------------------------------------------------------------------------

// Resampling quality. High is the default: passband to 91% of the lower Nyquist frequency, stopband from it,
// ~100 dB stopband attenuation (a 1 kHz tone keeps > 110 dB SNR); soxr's recipes of the same names.
enum class ResampleQuality { Low, Medium, High, VeryHigh };

// Polyphase: genrenet's own single-pass polyphase FIR (src/audio/polyphase.h), several times faster than
// libsoxr on music's rates, used where the rate ratio allows (otherwise soxr). Soxr: libsoxr throughout,
// which is what features of genrenet before 0.2 used (model files whose feature options predate the choice
// keep it).
enum class Resampler { Polyphase, Soxr };

struct AudioOptions {
  // Output sample rate in Hz, range [1000, 384000]. The paper's step 1: 16 kHz.
  int sample_rate = 16000;
  // Round to 16-bit PCM after resampling (the paper's step 3). Samples are clipped to [-1, 32767/32768].
  bool quantize_16bit = true;
  // Longest accepted input in seconds, range (0, 86400]. Longer files are refused, not truncated.
  double max_seconds = 900.0;
  ResampleQuality resample_quality = ResampleQuality::High;
  Resampler resampler = Resampler::Polyphase;
  bool operator==(const AudioOptions&) const = default;
};

struct Audio {
  std::vector<float> samples;  // mono, in [-1, 1]
  int sample_rate = 0;         // of `samples`
  int source_sample_rate = 0;  // of the file
  int source_channels = 0;
  double duration_seconds() const {
    return sample_rate > 0 ? static_cast<double>(samples.size()) / sample_rate : 0.0;
  }
};

// Decodes WAV (PCM 8/16/24/32-bit, float), AU, FLAC, OGG/Vorbis, MP3 and the other formats of libsndfile,
// mixes to mono (the mean of the channels), resamples and quantises. Throws Error naming the file for a
// missing, empty, truncated, corrupt or non-audio file, NaN or infinite samples, an absurd sample rate, or a
// file longer than max_seconds.
Audio load_audio(const std::filesystem::path& path, const AudioOptions& options = {});

// The decoding step alone: mono samples at the file's own rate, with all of load_audio's checks.
Audio decode_audio(const std::filesystem::path& path, double max_seconds = 900.0);

// Whether a file name ends in an audio extension genrenet reads (.wav .au .flac .ogg .oga .mp3 .aiff .aif).
bool has_audio_extension(const std::filesystem::path& path);

// The same from an encoded file held in memory (an upload, say); `name` is used in error messages.
Audio load_audio(std::span<const unsigned char> bytes, const std::string& name, const AudioOptions& options = {});
Audio decode_audio(std::span<const unsigned char> bytes, const std::string& name, double max_seconds = 900.0);

// Mono samples already in memory, checked (sample rate, empty, NaN or infinite samples, longer than
// options.max_seconds) and then resampled and quantised exactly as load_audio does after decoding.
Audio audio_from_samples(std::span<const float> samples, int sample_rate, const std::string& name,
                         const AudioOptions& options = {});

// Resamples mono audio (linear phase, delay compensated: output sample i is at time i/to_rate) with the
// polyphase resampler where it supports the ratio, else with libsoxr; Resampler::Soxr: libsoxr always.
std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate,
                            ResampleQuality quality = ResampleQuality::High,
                            Resampler resampler = Resampler::Polyphase);

// Rounds to the 16-bit grid (x * 32768, clipped to [-32768, 32767], / 32768), in place.
void quantize_16bit(std::span<float> samples);

// Writes mono or interleaved audio as 16-bit PCM WAV (or float WAV when `float_samples`), atomically.
void write_wav(const std::filesystem::path& path, std::span<const float> interleaved, int sample_rate,
               int channels = 1, bool float_samples = false);

// A short synthetic piece of music (drums, bass and chords), for demonstrations that need no dataset.
std::vector<float> synthesize_example_clip(double seconds, int sample_rate, std::uint32_t seed = 1);

// ---------------------------------------------------------------------------------------------------------
// Features (src/features)
// ---------------------------------------------------------------------------------------------------------

enum class MelScale { Htk, Slaney };       // HTK: 2595 log10(1 + f/700), as torchaudio's default
enum class MelNorm { None, Slaney };       // Slaney: each triangle scaled to unit area (2 / bandwidth)
enum class CropMode { Center, Random, Start };
enum class PadMode { Zero, Repeat };       // Zero pads the standardised input with its mean (0)
enum class FeatureStage { Resampled, Mel, Db, Input };

// The most values one model input (n_mels x frames) may hold: 16 times the paper's 128 x 1024. It bounds the
// memory of an inference by what the model file declares.
inline constexpr std::int64_t kMaxInputValues = std::int64_t(1) << 21;

// Everything that defines a model input, in one place, serialisable to JSON. Defaults are the paper's.
// validate() checks every field against the range documented here and throws Error naming the field.
struct FeatureOptions {
  AudioOptions audio;                 // sample_rate 16000, 16-bit, max 900 s
  int n_fft = 2048;                   // FFT and window length: a power of two in [64, 16384]
  int hop_length = 512;               // [1, n_fft]
  int n_mels = 128;                   // [1, n_fft/2 + 1]
  double f_min = 0.0;                 // Hz, [0, f_max)
  double f_max = 0.0;                 // Hz, (f_min, sample_rate/2]; 0 means sample_rate/2
  MelScale mel_scale = MelScale::Htk;
  MelNorm mel_norm = MelNorm::None;
  double amin = 1e-10;                // dB floor: 10 log10(max(x, amin)); (0, 1)
  std::optional<double> top_db;       // if set, clamp to (max dB - top_db); > 0
  bool standardize = true;            // (x - mean) / (std + 1e-6) over the whole spectrogram
  int frames = 1024;                  // fixed model input length in frames, [1, kMaxInputValues / n_mels]
  CropMode crop = CropMode::Center;   // for inputs longer than `frames`
  PadMode pad = PadMode::Zero;        // for inputs shorter than `frames`

  double effective_f_max() const { return f_max > 0 ? f_max : audio.sample_rate / 2.0; }
  void validate() const;
  std::string to_json() const;                               // compact JSON object
  static FeatureOptions from_json(const std::string& json);  // unknown keys are errors; missing keep defaults
  bool operator==(const FeatureOptions&) const = default;
};

// A spectrogram, row-major [n_mels][n_frames] (torchaudio's (n_mels, time) layout).
struct Spectrogram {
  int n_mels = 0;
  int n_frames = 0;
  std::vector<float> data;
  float at(int mel, int frame) const { return data[static_cast<size_t>(mel) * n_frames + frame]; }
};

struct SpectrogramStats {
  double min = 0, max = 0, mean = 0, std = 0;
};
SpectrogramStats compute_stats(const Spectrogram& s);

// Number of STFT frames for n samples (centred STFT): 1 + n / hop.
int frame_count(std::size_t n_samples, int hop_length);

// Turns audio into log-mel spectrograms and model inputs. Holds the window, the FFT plan and the mel
// filterbank, built once; one extractor may be used from several threads at once.
class FeatureExtractor {
 public:
  explicit FeatureExtractor(FeatureOptions options);
  ~FeatureExtractor();
  FeatureExtractor(FeatureExtractor&&) noexcept;
  FeatureExtractor& operator=(FeatureExtractor&&) noexcept;

  const FeatureOptions& options() const;

  // Mel power spectrogram (torchaudio's MelSpectrogram, power 2) of mono samples at options().audio rate.
  Spectrogram mel_power(std::span<const float> samples) const;
  // Decibels of a mel power spectrogram: 10 log10(max(x, amin)), then the optional top_db floor.
  void to_db(Spectrogram& mel) const;
  // Log-mel in dB of mono samples.
  Spectrogram log_mel(std::span<const float> samples) const;
  // The model input: log-mel, standardised, cropped or padded to options().frames.
  // `rng` is used by CropMode::Random only (required then).
  Spectrogram model_input(std::span<const float> samples, std::mt19937* rng = nullptr) const;
  // Same, from a file: load_audio with options().audio first.
  Spectrogram model_input(const std::filesystem::path& path, std::mt19937* rng = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The model input from a log-mel in dB (a cached one, say): standardise if options.standardize, then crop
// (`crop`; rng for CropMode::Random) or pad to options.frames. FeatureExtractor::model_input is log_mel
// followed by exactly this.
Spectrogram input_from_log_mel(Spectrogram log_mel, const FeatureOptions& options, CropMode crop,
                               std::mt19937* rng = nullptr);

// Model inputs for a log-mel of any length (dB, whole clip). Up to options.frames frames: one input, exactly
// input_from_log_mel with a centre crop (what training sees). Longer: windows of `window_frames` (at most
// options.frames) every `hop_frames` (clamped to [1, window_frames]), the last one ending at the end, each
// standardised on its own and padded. `starts` receives each window's first frame.
std::vector<Spectrogram> window_inputs(const Spectrogram& log_mel, const FeatureOptions& options, int window_frames,
                                       int hop_frames, std::vector<int>* starts = nullptr);

// (x - mean) / (std + 1e-6), with the unbiased std, as torch.Tensor.std. In place.
void standardize(Spectrogram& s);
// Crops (at `offset` frames) or pads to `frames`. Use fix_length_offset for the crop offset of a mode.
Spectrogram fix_length(const Spectrogram& s, int frames, int offset, PadMode pad);
int fix_length_offset(int n_frames, int frames, CropMode crop, std::mt19937* rng);

// ---------------------------------------------------------------------------------------------------------
// SpecAugment (src/augment)
// ---------------------------------------------------------------------------------------------------------

// The paper's augmentation: up to 48 of 128 bins and up to 192 of 1024 frames masked, plus time warping.
struct SpecAugmentOptions {
  int freq_masks = 1;          // number of frequency masks, [0, 100]
  int freq_mask_width = 48;    // F: each mask's width is uniform in [0, F] bins
  int time_masks = 1;          // number of time masks, [0, 100]
  int time_mask_width = 192;   // T: each mask's width is uniform in [0, T] frames
  int time_warp = 40;          // W: a random frame moves by up to W frames; 0 turns warping off
  float mask_value = 0.f;      // 0 = the mean of a standardised spectrogram ("set to zero" in the paper)
  void validate() const;
  bool operator==(const SpecAugmentOptions&) const = default;
};

struct SpecAugmentReport {
  struct Span {
    int start, width;
  };
  std::vector<Span> freq_masks, time_masks;
  int warp_from = -1, warp_to = -1;  // frame warp_from moved to warp_to (-1: no warp)
};

// Augments `s` in place with fresh random draws from `rng`: time warp, then the masks.
SpecAugmentReport spec_augment(Spectrogram& s, const SpecAugmentOptions& options, std::mt19937& rng);

// ---------------------------------------------------------------------------------------------------------
// Files (src/io)
// ---------------------------------------------------------------------------------------------------------

// Writes a float32 array as NumPy .npy (version 1.0, little endian, C order), atomically.
void write_npy(const std::filesystem::path& path, std::span<const float> data,
               const std::vector<std::int64_t>& shape);
// Reads a float32 (or float64, converted) .npy written by NumPy or write_npy.
struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};
NpyArray read_npy(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------------------
// Figures (src/plot), PNG
// ---------------------------------------------------------------------------------------------------------

struct FigureOptions {
  int width = 1200;
  int height = 400;
  std::string title;
};
// The waveform over time (the paper's Fig. 1): seconds on x, amplitude on y.
void plot_waveform(const std::filesystem::path& png, std::span<const float> samples, int sample_rate,
                   const FigureOptions& fig = {});
// A log-mel spectrogram (the paper's Fig. 2) in a perceptual colour map (magma), time in seconds on x,
// frequency in Hz on a mel-spaced y axis, with a colour bar. `values_in_db` labels the bar as dB, else as
// standardised units.
void plot_spectrogram(const std::filesystem::path& png, const Spectrogram& spec, const FeatureOptions& opts,
                      bool values_in_db, const FigureOptions& fig = {});
// The same figure as PNG bytes in memory (for a web page, say).
std::string spectrogram_png(const Spectrogram& spec, const FeatureOptions& opts, bool values_in_db,
                            const FigureOptions& fig = {});

// The same spectrogram before and after augmentation, one above the other on one colour scale (the
// paper's Fig. 3). Each panel is fig.height tall.
// A spectrogram in grey with a map of the same shape (values in [0, 1]: a Grad-CAM, say) over it in magma,
// with the map's colour bar labelled `map_label`. As PNG bytes.
std::string spectrogram_overlay_png(const Spectrogram& spec, const Spectrogram& map, const FeatureOptions& opts,
                                    const std::string& map_label, const FigureOptions& fig = {});
void plot_augment_preview(const std::filesystem::path& png, const Spectrogram& before, const Spectrogram& after,
                          const FeatureOptions& opts, const FigureOptions& fig = {});

}  // namespace genrenet
