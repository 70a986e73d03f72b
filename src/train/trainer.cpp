// The training loop: the paper's Adam fine-tuning with per-epoch SpecAugment in the precision the compute
// policy chooses (genrenet/compute.h), batch preparation overlapped with the step, an epoch table
// as the paper's Table VI, atomic checkpoints every epoch and exact resume; data-parallel over processes
// (src/train/distributed.cpp) with rank 0 alone printing and writing the run folder.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <numeric>
#include <optional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/train.h>

#include "common/log.h"
#include "common/parallel.h"
#include "common/progress.h"
#include "compute/torch_threads.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"
#include "train/distributed.h"
#include "train/frozen_trunk.h"

namespace genrenet {

namespace {

using Clock = std::chrono::steady_clock;
using io::read_text_file;

// The clips of one subset, with their log-mel spectrograms in memory.
struct LoadedSubset {
  std::vector<Spectrogram> spectrograms;
  std::vector<int> labels;
  std::vector<std::string> ids;
};

LoadedSubset load_subset(const Dataset& data, const std::vector<std::string>& ids, FeatureCache& cache, int threads,
                         const std::string& label, bool report = true) {
  const SplitClips clips = find_clips(data, ids);
  if (report)
    for (auto& id : clips.missing) log(LogLevel::Warning, id + ": in the split but not in the dataset, skipped");
  std::vector<std::filesystem::path> files;
  for (auto& c : clips.clips) files.push_back(c.path);
  FeatureCache::Result r = cache.load(files, threads, label);
  LoadedSubset s;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!r.errors[i].empty()) {
      if (report) log(LogLevel::Warning, "skipped unreadable clip: " + r.errors[i]);
      continue;
    }
    s.spectrograms.push_back(std::move(r.spectrograms[i]));
    s.labels.push_back(clips.clips[i].label);
    s.ids.push_back(clips.clips[i].id);
  }
  if (r.failed && report) logf(LogLevel::Note, "%s: %d of %zu clips unreadable and skipped", label.c_str(), r.failed, files.size());
  return s;
}

// seeds: one per clip (training), so that a clip's crop and SpecAugment depend on its place in the
// epoch's order and not on how the order is cut into batches and processes.
// The clips are spread over `threads` threads (each clip's values depend on its seed alone).
torch::Tensor make_inputs(const LoadedSubset& s, const std::vector<int>& idx, const FeatureOptions& fo, int channels,
                          bool train, bool random_crop, const SpecAugmentOptions* aug,
                          const std::vector<std::uint32_t>& seeds = {}, int threads = 1) {
  std::vector<Spectrogram> inputs(idx.size());
  parallel_for(idx.size(), threads, [&](size_t k) {
    std::mt19937 rng(train ? seeds.at(k) : 0);
    inputs[k] = input_from_log_mel(s.spectrograms[idx[k]], fo,
                                   train && random_crop ? CropMode::Random : CropMode::Center, &rng);
    if (train && aug) spec_augment(inputs[k], *aug, rng);
  });
  return stack_spectrograms(inputs, channels);
}

// A well-mixed 32-bit seed from the epoch's seed and a position in its order (splitmix64's finaliser).
std::uint32_t sample_seed(std::uint64_t epoch_seed, std::uint64_t position) {
  std::uint64_t z = epoch_seed * 0x9E3779B97F4A7C15ull + position + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<std::uint32_t>(z ^ (z >> 31));
}

// Sums values over the processes of a data-parallel run (unchanged in a single process).
std::vector<double> sum_over_processes(ProcessGroup* group, std::vector<double> values) {
  if (!group) return values;
  torch::Tensor t = torch::tensor(values, torch::kFloat64);
  group->all_reduce_sum(t);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

// The parameters and buffers of a module, for broadcasting.
std::vector<torch::Tensor> module_state(const torch::nn::Module& m, bool with_parameters) {
  std::vector<torch::Tensor> v = m.buffers();
  if (with_parameters)
    for (auto& p : m.parameters()) v.push_back(p);
  return v;
}

// metrics.csv, written whole from the history every epoch (part of the checkpoint), so that a resumed run
// lists each epoch once.
std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  std::ostringstream out;
  out << "epoch,train_loss,train_acc,val_loss,val_acc,seconds\n";
  for (const auto& m : history)
    out << m.epoch << ',' << m.train_loss << ',' << m.train_acc << ',' << m.val_loss << ',' << m.val_acc << ','
        << m.seconds << '\n';
  return out.str();
}

nlohmann::json history_json(const std::vector<EpochMetrics>& h) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& m : h)
    a.push_back({{"epoch", m.epoch}, {"train_loss", m.train_loss}, {"train_acc", m.train_acc}, {"val_loss", m.val_loss},
                 {"val_acc", m.val_acc}, {"seconds", m.seconds}});
  return a;
}

std::vector<EpochMetrics> history_from_json(const nlohmann::json& a) {
  std::vector<EpochMetrics> h;
  for (auto& m : a)
    h.push_back({m.at("epoch").get<int>(), m.at("train_loss").get<double>(), m.at("train_acc").get<double>(),
                 m.at("val_loss").get<double>(), m.at("val_acc").get<double>(), m.at("seconds").get<double>()});
  return h;
}

}  // namespace

namespace {

// One training run in named steps: open the run folder and settle the config (rank 0 decides, the others
// receive), load the data, build the model and optimiser, resume, then per epoch train, validate and
// checkpoint. Rank 0 alone prints and writes the run folder.
class Trainer {
 public:
  Trainer(const TrainConfig& given, const RunControl& control, ProcessGroup* group)
      : given_(given), control_(control), group_(group), folder_(given.out) {
    main_ = !group || group->rank() == 0;
    world_ = group ? group->size() : 1;
    rank_ = group ? group->rank() : 0;
    if (!main_) quiet_bars_.emplace();
    // Rank 0 decides and reads the run folder; the others receive what it read, so that they need not see
    // the run folder at all (another machine).
    resume_ = group ? group->share(control.resume ? "1" : "0") == "1" : control.resume;
    settle_config(control.overwrite);
    load_data();
    build_model();
    if (resume_) resume_state();
  }

  TrainResult run() {
    print_header();
    for (int epoch = start_epoch_; epoch <= config_.epochs; ++epoch) {
      if (stop_requested()) {
        result_.interrupted = true;
        say("stopped before epoch %d: continue with --resume", epoch);
        break;
      }
      const auto t0 = Clock::now();
      std::vector<double> train_totals;
      if (!train_epoch(epoch, train_totals)) {
        result_.interrupted = true;
        say("stopped during epoch %d; the checkpoint of epoch %d is kept: continue with --resume", epoch, epoch - 1);
        break;
      }
      const std::vector<double> valid_totals = validate();
      EpochMetrics m{epoch, train_totals[0] / train_totals[2], train_totals[1] / train_totals[2],
                     valid_totals[0] / valid_totals[2], valid_totals[1] / valid_totals[2],
                     std::chrono::duration<double>(Clock::now() - t0).count()};
      result_.history.push_back(m);
      const bool best = result_.best_epoch == 0 || m.val_acc > result_.best_val_acc ||
                        (m.val_acc == result_.best_val_acc && m.val_loss < result_.history[result_.best_epoch - 1].val_loss);
      if (best) {
        result_.best_epoch = epoch;
        result_.best_val_acc = m.val_acc;
      }
      if (!main_) continue;
      logf(LogLevel::Result, "%5d %11.4f %10.4f %9.4f %8.4f %8.1f", m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.seconds);
      checkpoint(m, best);
    }
    // The run folder is complete (rank 0 has written its last checkpoint) when train() returns anywhere.
    if (group_) group_->barrier();
    result_.best_model = folder_.best_model();
    result_.last_model = folder_.last_model();
    if (!result_.interrupted && !result_.history.empty())
      say("best validation accuracy %.4f at epoch %d; model to test (test_model %s): %s", result_.best_val_acc,
          result_.best_epoch, config_.test_model.c_str(),
          (config_.test_model == "last" ? result_.last_model : result_.best_model).string().c_str());
    return std::move(result_);
  }

 private:
  template <class... Args>
  void say(const char* format, Args... args) const {
    if (main_) logf(LogLevel::Result, format, args...);
  }

  // Rank 0 holds the run folder for the whole run, and first completes (or discards) the checkpoint of a
  // run that was killed while writing one.
  void take_folder() {
    std::filesystem::create_directories(folder_.root());
    lock_.emplace(folder_);
    folder_.recover_and_report();
  }

  // The config: the flags, or the run's own when resuming (whose epochs the flags may change); shared.
  void settle_config(bool overwrite) {
    config_ = given_;
    if (main_ && std::filesystem::exists(folder_.root())) take_folder();
    if (main_ && !resume_ && !overwrite && folder_.has_finished_epoch())
      throw Error(given_.out, "holds a trained run already: continue it with --resume, or train over it with --overwrite");
    if (main_ && resume_) {
      if (!folder_.has_finished_epoch())
        throw Error(given_.out, "nothing to resume: no finished epoch (last.json) in this run folder");
      config_ = TrainConfig::from_json(read_text_file(folder_.config()));
      config_.out = given_.out;
      if (given_.epochs > 0) config_.epochs = given_.epochs;  // resuming may extend or shorten a run
    }
    if (main_ && !resume_ && !config_.init.empty()) {
      // The network and the features it was trained on come with the weights; only the head is new.
      ModelFile init = read_model_file(config_.init);
      const int classes = config_.model.num_classes;
      config_.model = init.model;
      config_.model.num_classes = classes;
      config_.features = init.features;
      init.weights.erase("fc.weight");
      init.weights.erase("fc.bias");
      init_weights_ = std::move(init.weights);
    }
    if (group_) {
      config_ = TrainConfig::from_json(group_->share(config_.to_json()));
      config_.out = given_.out;
    }
    config_.validate();
    cuda_ = config_.device == "cuda";
    if (cuda_) require_cuda_device();
    device_ = cuda_ ? torch::Device(torch::kCUDA, group_ ? group_->env().local_rank : 0) : torch::Device(torch::kCPU);
    // The processes of one machine share its cores.
    threads_ = resolve_threads(config_.threads, group_ ? group_->env().local_world_size : 1);
    set_torch_threads(threads_);
    if (main_ && !lock_) take_folder();
  }

  // The split (made and written by rank 0, or read when resuming) and the clips' features in memory.
  void load_data() {
    TaggedLibrary tagged;
    data_ = training_dataset(config_, &tagged);
    if (main_ && !config_.tags.libraries.empty()) report_tagged_library(tagged);
    if (main_) {
      if (resume_) {
        split_ = Split::from_json(read_text_file(folder_.split()));
      } else {
        split_ = make_split(data_, config_.split, config_.seed, config_.split_dir, config_.fold);
        folder_.remove_checkpoint();  // a previous run's epochs (--overwrite, or a run stopped before its first)
        io::write_file_atomically(folder_.split(), split_.to_json());
        // Folders as absolute paths: evaluate, calibrate and --resume find them from any working folder.
        TrainConfig stored = config_;
        for (std::string* folder : {&stored.data, &stored.split_dir, &stored.cache, &stored.out, &stored.tags.genre_map, &stored.init})
          if (!folder->empty()) *folder = std::filesystem::absolute(*folder).lexically_normal().string();
        for (std::string& library : stored.tags.libraries)
          if (library[0] != '@') library = std::filesystem::absolute(library).lexically_normal().string();
        io::write_file_atomically(folder_.config(), stored.to_json());
      }
      if (!split_.not_found.empty())
        logf(LogLevel::Note, "note: %zu split entries have no clip in %s (e.g. %s)", split_.not_found.size(),
                     config_.data.c_str(), split_.not_found[0].c_str());
    }
    if (group_) split_ = Split::from_json(group_->share(split_.to_json()));
    FeatureCache cache(config_.cache.empty() ? default_feature_cache_dir() : std::filesystem::path(config_.cache), config_.features);
    if (group_) {
      // The processes of a machine usually share its cache: each fills its own part of what is missing,
      // then all read everything.
      const int local_world = group_->env().local_world_size, local_rank = group_->env().local_rank;
      std::vector<std::string> mine;
      for (const auto* ids : {&split_.train, &split_.valid})
        for (size_t i = 0; i < ids->size(); ++i)
          if (static_cast<int>(i % local_world) == local_rank) mine.push_back((*ids)[i]);
      load_subset(data_, mine, cache, threads_, "features (this process's part)", false);
      group_->barrier();
    }
    train_set_ = load_subset(data_, split_.train, cache, threads_, "features (train)", main_);
    valid_set_ = load_subset(data_, split_.valid, cache, threads_, "features (valid)", main_);
    if (train_set_.ids.empty() || valid_set_.ids.empty())
      throw Error(dataset_name(config_), "no readable clips to train or validate on");
    settle_class_balance();
  }

  // What the library's tags gave: genres and their files, those left out; written beside the split.
  void report_tagged_library(const TaggedLibrary& t) {
    say("genre tags: %zu files with a learnt genre in %zu genres, %zu without a genre tag, %d naming several "
        "(rule: %s)", t.data.clips.size(), t.data.classes.size(), t.untagged.size(), t.several, config_.tags.several.c_str());
    for (auto& [genre, n] : t.left_out)
      say("  left out: %s (%d files, under --min-per-genre %d)", genre.c_str(), n, config_.tags.min_per_genre);
    if (!resume_) io::write_file_atomically(folder_.dataset(), t.to_json());
  }

  // Loss weights (or sampling weights) per class from the training subset's counts: total / (K x count).
  void settle_class_balance() {
    balance_ = config_.balance == "auto" ? (config_.tags.libraries.empty() ? "none" : "weights") : config_.balance;
    if (balance_ == "none") return;
    std::vector<double> counts(data_.classes.size(), 0);
    for (int label : train_set_.labels) ++counts[label];
    class_weights_.assign(counts.size(), 0);
    std::string said;
    for (size_t k = 0; k < counts.size(); ++k) {
      class_weights_[k] = counts[k] ? train_set_.labels.size() / (counts.size() * counts[k]) : 0;
      said += (k ? ", " : "") + data_.classes[k] + " " + std::to_string(class_weights_[k]).substr(0, 4);
    }
    class_weight_tensor_ = torch::tensor(class_weights_, torch::kFloat32).to(device_);
    say("class balance: %s (%s)", balance_ == "weights" ? "loss weights" : "balanced sampling", said.c_str());
  }

  // The network (pretrained, or the checkpoint's weights when resuming), its precision, the frozen layers
  // and the optimiser over what trains.
  void build_model() {
    mo_ = config_.model;
    mo_.num_classes = static_cast<int>(data_.classes.size());
    torch::manual_seed(config_.seed);
    model_ = make_model(mo_);
    if (main_ && !resume_ && !config_.pretrained.empty()) {
      std::filesystem::path w = config_.pretrained == "imagenet" ? fetch_imagenet_weights(mo_.arch)
                                                                  : std::filesystem::path(config_.pretrained);
      LoadReport r = load_weights(model_, read_weights(w).tensors);
      log(LogLevel::Result, "pretrained " + w.string() + ": " + r.summary());
    }
    if (main_ && !init_weights_.empty()) {
      LoadReport r = load_weights(model_, init_weights_);
      log(LogLevel::Result, "init " + config_.init + ": " + r.summary() + "; a new head for " +
                                std::to_string(mo_.num_classes) + " classes");
      init_weights_.clear();
    }
    if (main_ && resume_) load_weights(model_, read_model_file(folder_.last_model()).weights, /*strict=*/true);
    // Every process starts from rank 0's weights and statistics, as DistributedDataParallel does.
    if (group_) group_->broadcast(module_state(*model_, true));
    auto frozen = freeze(model_, config_.freeze);
    if (!frozen.empty())
      say("frozen: %zu parameter tensors (%s ... %s)", frozen.size(), frozen.front().c_str(), frozen.back().c_str());
    const int trunk_stages = frozen_trunk_stages(model_, config_.freeze);
    // "auto" is measured by the first process alone (once per CPU and workload, then cached) and shared; a
    // resumed run keeps the precisions it started in, so that it computes what the uninterrupted run would
    // (a run from before the frozen trunk: none).
    if (main_ && resume_) {
      const auto state = nlohmann::json::parse(read_text_file(folder_.state()));
      if (config_.precision == "auto") precision_text_ = state.value("precision", "");
      if (config_.trunk_precision == "auto") trunk_text_ = state.value("trunk_precision", "off");
    }
    if (main_ && trunk_text_.empty() && trunk_stages >= 0) {
      const std::optional<Precision> p = choose_trunk_precision(config_, mo_, trunk_stages, threads_);
      trunk_text_ = p ? precision_name(*p) : "off";
    }
    if (main_ && precision_text_.empty()) {
      // Behind a trunk of all four stages only the head trains (pooling and fc): nothing to choose.
      precision_text_ = trunk_stages == 4 && trunk_text_ != "off" && config_.precision == "auto"
                            ? precision_name(Precision::Fp32)
                            : precision_name(choose_training_precision(config_, mo_, threads_).precision);
    }
    if (group_) {
      precision_text_ = group_->share(precision_text_);
      trunk_text_ = group_->share(trunk_text_);
    }
    if (trunk_stages < 0) trunk_text_ = "off";
    const Precision precision = parse_precision(precision_text_);
    bf16_ = precision == Precision::Bf16;
    channels_last_ = uses_channels_last(precision);
    model_->to(device_);
    if (channels_last_) to_channels_last(*model_);
    if (group_ && config_.sync_bn) set_batch_norm_sync(*model_, [g = group_](torch::Tensor& t) { g->all_reduce_sum(t); });
    if (trunk_text_ != "off") {
      const Precision p = parse_precision(trunk_text_);
      torch::Tensor calibration_inputs;
      if (p == Precision::Int8) {
        // The first training clips (centre crops, no augmentation): the same in every process and on resume.
        std::vector<int> first(std::min<size_t>(32, train_set_.ids.size()));
        std::iota(first.begin(), first.end(), 0);
        calibration_inputs = make_inputs(train_set_, first, config_.features, 1, false, false, nullptr);
      }
      trunk_.emplace(model_, trunk_stages, p, device_, calibration_inputs);
      // With every stage frozen, the calibration holds for the trained model too: its file is int8-ready.
      if (trunk_stages == 4) mf_.int8 = trunk_->calibration();
    }
    std::vector<torch::Tensor> trainable;
    for (auto& p : model_->parameters())
      if (p.requires_grad()) trainable.push_back(p);
    if (trainable.empty()) throw Error("freeze", "every parameter is frozen: nothing would train");
    opt_ = std::make_unique<torch::optim::Adam>(
        trainable, torch::optim::AdamOptions(config_.lr).weight_decay(config_.weight_decay));
    averager_ = group_ ? group_->gradient_averager(trainable) : nullptr;
    buffers_ = module_state(*model_, false);
    mf_.model = mo_;
    mf_.classes = data_.classes;
    mf_.features = config_.features;
  }

  // Adam's state and the history from the last checkpoint (read by rank 0, shared).
  void resume_state() {
    std::string state_text, optimizer_bytes;
    if (main_) {
      state_text = read_text_file(folder_.state());
      torch::load(*opt_, folder_.optimizer().string());
      if (group_) {
        std::ostringstream os;
        torch::save(*opt_, os);
        optimizer_bytes = os.str();
      }
    }
    if (group_) {
      state_text = group_->share(state_text);
      optimizer_bytes = group_->share(optimizer_bytes);
      if (!main_) {
        std::istringstream is(optimizer_bytes);
        torch::load(*opt_, is);
      }
    }
    auto state = nlohmann::json::parse(state_text);
    start_epoch_ = state.at("epoch").get<int>() + 1;
    result_.best_epoch = state.at("best_epoch").get<int>();
    result_.best_val_acc = state.at("best_val_acc").get<double>();
    result_.history = history_from_json(state.at("history"));
    say("resuming %s at epoch %d", given_.out.c_str(), start_epoch_);
  }

  void print_header() const {
    say("%s: %zu training and %zu validation clips, %zu classes, %s, %s, %d threads", mo_.arch.c_str(),
        train_set_.ids.size(), valid_set_.ids.size(), data_.classes.size(),
        bf16_ ? "bf16 autocast + channels_last" : channels_last_ ? "fp32 channels_last" : "fp32",
        device_.str().c_str(), threads_);
    if (trunk_)
      say("frozen trunk: conv1 .. %s run as an inference network in %s; the rest trains",
          trunk_->stages() ? ("layer" + std::to_string(trunk_->stages())).c_str() : "maxpool", trunk_text_.c_str());
    if (group_)
      say("data-parallel: %d processes x batch %d = global batch %d, %s, batch norm %s", world_, config_.batch,
          world_ * config_.batch, cuda_ ? "NCCL" : "Gloo", config_.sync_bn ? "synchronised" : "per process");
    say("%5s %11s %10s %9s %8s %8s", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds");
    for (auto& m : result_.history)
      say("%5d %11.4f %10.4f %9.4f %8.4f %8.1f", m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.seconds);
  }

  torch::Tensor to_device(torch::Tensor x) const {
    x = x.to(device_);
    return channels_last_ ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
  }

  // A Ctrl-C in one process stops them all after the same step.
  bool stop_requested() const { return sum_over_processes(group_, {control_.stop_requested() ? 1.0 : 0.0})[0] > 0; }

  // This process's batches of the epoch and each clip's seed. Every epoch's randomness comes from
  // (seed, epoch) alone, so a resumed run draws what an uninterrupted one would have. As PyTorch's
  // DistributedSampler: one order for all, padded by repeating its start to a multiple of the process
  // count; process r takes positions r, r + world, ... So 2 processes with batch 8 see the clips (and
  // crops, and masks) of 1 process with batch 16.
  void plan_epoch(int epoch, std::vector<std::vector<int>>& batches, std::vector<std::vector<std::uint32_t>>& seeds) const {
    std::mt19937 rng(config_.seed * 1000003u + static_cast<unsigned>(epoch));
    torch::manual_seed(config_.seed * 1000003ull + epoch);
    std::vector<int> order(train_set_.ids.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    if (balance_ == "sampling") {  // as many draws as clips, each class equally likely
      std::vector<double> w;
      for (int label : train_set_.labels) w.push_back(class_weights_[label]);
      std::discrete_distribution<int> draw(w.begin(), w.end());
      for (int& i : order) i = draw(rng);
    }
    const std::uint64_t epoch_seed = rng();
    const size_t per_process = (order.size() + world_ - 1) / world_;
    for (size_t k = 0; k < per_process; ++k) {
      if (k % config_.batch == 0) {
        batches.emplace_back();
        seeds.emplace_back();
      }
      const size_t position = rank_ + k * world_;
      batches.back().push_back(order[position % order.size()]);
      seeds.back().push_back(sample_seed(epoch_seed, position));
    }
  }

  // The logits of the network in training (or eval) mode: through the frozen trunk when there is one. An
  // fp32 trunk runs inside the training precision's autocast scope, as the whole network does without one.
  torch::Tensor forward(const torch::Tensor& x) {
    if (!trunk_) {
      Bf16Autocast ac(bf16_, cuda_);
      return model_->forward(x);
    }
    return logits_behind_trunk(trunk_output(x));
  }
  // The channels of the inputs made for the network: one where an inference-network trunk takes the
  // spectrogram that a 3-channel model's channels repeat (InferenceNet::forward), else the model's.
  int input_channels() const { return trunk_ && trunk_->precision() != Precision::Fp32 ? 1 : mo_.input_channels; }

  torch::Tensor trunk_output(const torch::Tensor& x) {
    Bf16Autocast ac(bf16_ && trunk_->precision() == Precision::Fp32, cuda_);
    return trunk_->forward(x);
  }
  torch::Tensor logits_behind_trunk(const torch::Tensor& a) {
    Bf16Autocast ac(bf16_, cuda_);
    return trunk_->rest(a);
  }

  // One optimiser step on a prepared batch; adds its loss, correct answers and size to `totals`.
  void train_step(const torch::Tensor& inputs, const std::vector<int>& batch, std::vector<double>& totals) {
    auto ce = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(config_.label_smoothing);
    if (balance_ == "weights") ce.weight(class_weight_tensor_);
    std::vector<int64_t> labels;
    for (int i : batch) labels.push_back(train_set_.labels[i]);
    torch::Tensor y = torch::tensor(labels, torch::kInt64).to(device_);
    torch::Tensor x = to_device(inputs);
    opt_->zero_grad();
    if (averager_) averager_->before_forward();
    // Per-process batch norms: every step starts from rank 0's running statistics (DDP's broadcast_buffers).
    if (group_ && !config_.sync_bn) group_->broadcast(buffers_);
    torch::Tensor logits = forward(x);
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y, ce);
    if (averager_) averager_->before_backward();
    loss.backward();  // with a group, gradients are averaged over the processes as they are produced
    opt_->step();
    totals[0] += loss.item<double>() * labels.size();
    totals[1] += logits.argmax(1).eq(y).sum().item<int64_t>();
    totals[2] += static_cast<double>(labels.size());
  }

  // One epoch of training; false when stopped during it. `totals`: loss sum, correct, seen over all processes.
  bool train_epoch(int epoch, std::vector<double>& totals) {
    if (config_.schedule == "cosine")
      for (auto& g : opt_->param_groups())
        static_cast<torch::optim::AdamOptions&>(g.options())
            .lr(config_.lr * 0.5 * (1 + std::cos(M_PI * (epoch - 1) / config_.epochs)));
    std::vector<std::vector<int>> batches;
    std::vector<std::vector<std::uint32_t>> seeds;
    plan_epoch(epoch, batches, seeds);
    const SpecAugmentOptions* aug = config_.specaugment ? &config_.augment : nullptr;
    // On a GPU the next batch is prepared (crops, standardisation, SpecAugment) on a thread of its own while
    // this one trains. On the CPU a third thread beside the step took its time from one of the step's threads
    // and left the other waiting at the kernels' barriers, so there each batch is prepared in turn, its clips
    // spread over the cores (as predict decodes). GENRENET_PREPARE_AHEAD=1 or 0 forces either.
    const std::launch policy = ahead_or_in_turn("GENRENET_PREPARE_AHEAD", cuda_);
    const bool ahead = policy == std::launch::async;  // else deferred: prepared at get()
    auto prepare = [&, ahead](size_t b) {
      return make_inputs(train_set_, batches[b], config_.features, input_channels(), true, config_.random_crop, aug,
                         seeds[b], ahead ? 1 : threads_);
    };
    set_training_mode(model_, true, config_.freeze);
    std::vector<double> sums(3, 0.0);
    size_t clips = 0;
    for (auto& b : batches) clips += b.size();
    ProgressBar bar("epoch " + std::to_string(epoch), clips);
    std::future<torch::Tensor> next = std::async(policy, prepare, 0);
    bool stopped = false;
    for (size_t b = 0; b < batches.size() && !stopped; ++b) {
      torch::Tensor inputs = next.get();
      if (b + 1 < batches.size()) next = std::async(policy, prepare, b + 1);
      train_step(inputs, batches[b], sums);
      bar.tick(batches[b].size());
      stopped = stop_requested();
    }
    if (ahead && next.valid()) next.wait();  // (a deferred batch is not prepared only to be dropped)
    bar.finish();
    if (stopped) return false;
    totals = sum_over_processes(group_, sums);
    return true;
  }

  // Validation: centre crops, eval mode, no augmentation; each process takes every world-th clip. Returns
  // the loss sum, correct answers and count over all processes.
  std::vector<double> validate() {
    if (group_ && !config_.sync_bn) group_->broadcast(buffers_);
    model_->eval();
    std::vector<double> sums(3, 0.0);
    torch::NoGradGuard ng;
    std::vector<int> mine;
    for (int i = rank_; i < static_cast<int>(valid_set_.ids.size()); i += world_) mine.push_back(i);
    for (size_t i = 0; i < mine.size(); i += config_.batch) {
      std::vector<int> idx(mine.begin() + i, mine.begin() + std::min(mine.size(), i + config_.batch));
      std::vector<int64_t> labels;
      for (int k : idx) labels.push_back(valid_set_.labels[k]);
      torch::Tensor y = torch::tensor(labels, torch::kInt64).to(device_);
      const size_t batch_index = i / config_.batch;
      auto inputs = [&] {
        return to_device(
            make_inputs(valid_set_, idx, config_.features, input_channels(), false, false, nullptr, {}, threads_));
      };
      torch::Tensor logits;
      if (!trunk_) {
        logits = forward(inputs());
      } else if (batch_index < valid_trunk_.size()) {
        logits = logits_behind_trunk(valid_trunk_[batch_index]);
      } else {
        // Validation's inputs are fixed (centre crops, no augmentation) and so is the trunk: its outputs are
        // kept for the next epochs' validation while they fit in kValidTrunkBytes, and validation is then
        // the trainable rest alone.
        torch::Tensor a = trunk_output(inputs());
        const double bytes = static_cast<double>(a.numel()) * a.element_size() / a.size(0) * mine.size();
        if (batch_index == valid_trunk_.size() && bytes <= kValidTrunkBytes) valid_trunk_.push_back(a);
        logits = logits_behind_trunk(a);
      }
      logits = logits.to(torch::kFloat32);
      sums[0] += torch::nn::functional::cross_entropy(logits, y).item<double>() * idx.size();
      sums[1] += logits.argmax(1).eq(y).sum().item<int64_t>();
      sums[2] += static_cast<double>(idx.size());
    }
    return sum_over_processes(group_, sums);
  }

  // The checkpoint: every file of this epoch, committed at once (a kill leaves this epoch or the one before).
  void checkpoint(const EpochMetrics& m, bool best) {
    mf_.weights = state_dict(*model_);
    mf_.training_json = nlohmann::json({{"config", nlohmann::json::parse(config_.to_json())}, {"epoch", m.epoch},
                                        {"metrics", history_json({m})[0]}, {"split", split_.spec},
                                        {"precision", precision_text_}, {"trunk_precision", trunk_text_}})
                            .dump();
    const std::string state = nlohmann::json({{"epoch", m.epoch}, {"best_epoch", result_.best_epoch},
                                              {"best_val_acc", result_.best_val_acc}, {"precision", precision_text_},
                                              {"trunk_precision", trunk_text_},
                                              {"history", history_json(result_.history)}})
                                  .dump(1);
    auto text = [](std::string bytes) {
      return [bytes = std::move(bytes)](const std::filesystem::path& p) { io::write_file_atomically(p, bytes); };
    };
    auto model_file = [this](const std::filesystem::path& p) { save_model_file(p, mf_); };
    auto optimizer = [this](const std::filesystem::path& p) {
      // Serialised in memory first: LibTorch's file writer throws from its destructor when the disk fills,
      // which ends the process (exit 134); a failed write of bytes is an ordinary error.
      std::ostringstream bytes;
      torch::save(*opt_, bytes);
      io::write_file_atomically(p, bytes.str());
    };
    std::vector<io::RunFolder::File> files = {{folder_.last_model().filename(), model_file},
                                              {folder_.optimizer().filename(), optimizer},
                                              {folder_.metrics().filename(), text(metrics_csv(result_.history))},
                                              {folder_.state().filename(), text(state)}};
    if (best) files.push_back({folder_.best_model().filename(), model_file, folder_.last_model().filename()});
    folder_.commit(files);
    plot_training_curves(folder_.curves(), result_.history);
  }

  const TrainConfig given_;
  const RunControl control_;
  std::optional<ProgressBar::Silence> quiet_bars_;  // on the workers other than rank 0
  TrainConfig config_;
  bool resume_ = false, main_ = true;
  int world_ = 1, rank_ = 0;
  ProcessGroup* group_;
  const io::RunFolder folder_;
  std::optional<io::RunFolderLock> lock_;
  bool cuda_ = false;
  torch::Device device_{torch::kCPU};
  int threads_ = 1;
  Dataset data_;
  Split split_;
  LoadedSubset train_set_, valid_set_;
  ModelOptions mo_;
  ResNet model_{nullptr};
  std::string precision_text_, trunk_text_;
  std::string balance_ = "none";       // config.balance resolved: none, weights or sampling
  std::vector<double> class_weights_;  // per class, when balance_ is not none
  torch::Tensor class_weight_tensor_;  // the same on the device, for the loss
  TensorMap init_weights_;             // config.init's tensors but fc, until loaded
  std::optional<FrozenTrunk> trunk_;
  static constexpr double kValidTrunkBytes = 1 << 30;
  std::vector<torch::Tensor> valid_trunk_;  // the trunk's output for each validation batch, once computed
  bool bf16_ = false, channels_last_ = false;
  std::unique_ptr<torch::optim::Adam> opt_;
  std::unique_ptr<GradientAverager> averager_;
  std::vector<torch::Tensor> buffers_;
  ModelFile mf_;
  TrainResult result_;
  int start_epoch_ = 1;
};

TrainResult train_in_group(const TrainConfig& given, const RunControl& control, ProcessGroup* group) {
  return Trainer(given, control, group).run();
}

}  // namespace

TrainResult train(const TrainConfig& config, bool resume, bool overwrite) {
  return train(config, RunControl{resume, overwrite});
}

TrainResult train(const TrainConfig& config, const RunControl& control) {
  ProcessGroup* group = ProcessGroup::get(config.dist_timeout, config.device == "cuda");
  if (!group) return train_in_group(config, control, nullptr);
  try {
    return train_in_group(config, control, group);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // c10d's errors: a peer closed its connections (it died) or did not answer within the timeout.
    throw Error("data-parallel training (" + std::to_string(group->size()) + " processes)",
                "another process stopped, or did not answer within " + std::to_string(config.dist_timeout) + " s (" +
                    short_message(e) + "); the run folder keeps the checkpoint of the last finished epoch: "
                    "continue with --resume");
  }
}

}  // namespace genrenet
