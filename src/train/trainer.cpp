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

#include "common/progress.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"
#include "train/distributed.h"

namespace genrenet {

std::atomic<bool> g_stop_training{false};

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
  std::map<std::string, const Clip*> by_id;
  for (auto& c : data.clips) by_id[c.id] = &c;
  std::vector<std::filesystem::path> files;
  std::vector<int> labels;
  std::vector<std::string> kept;
  for (auto& id : ids) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      if (report) std::fprintf(stderr, "warning: %s: in the split but not in the dataset, skipped\n", id.c_str());
      continue;
    }
    files.push_back(it->second->path);
    labels.push_back(it->second->label);
    kept.push_back(id);
  }
  FeatureCache::Result r = cache.load(files, threads, label);
  LoadedSubset s;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!r.errors[i].empty()) {
      if (report) std::fprintf(stderr, "warning: skipped unreadable clip: %s\n", r.errors[i].c_str());
      continue;
    }
    s.spectrograms.push_back(std::move(r.spectrograms[i]));
    s.labels.push_back(labels[i]);
    s.ids.push_back(kept[i]);
  }
  if (r.failed && report) std::fprintf(stderr, "%s: %d of %zu clips unreadable and skipped\n", label.c_str(), r.failed, files.size());
  return s;
}

// seeds: one per clip (training), so that a clip's crop and SpecAugment depend on its place in the
// epoch's order and not on how the order is cut into batches and processes.
torch::Tensor make_inputs(const LoadedSubset& s, const std::vector<int>& idx, const FeatureOptions& fo, int channels,
                          bool train, bool random_crop, const SpecAugmentOptions* aug,
                          const std::vector<std::uint32_t>& seeds = {}) {
  std::vector<Spectrogram> inputs;
  for (size_t k = 0; k < idx.size(); ++k) {
    std::mt19937 rng(train ? seeds.at(k) : 0);
    inputs.push_back(input_from_log_mel(s.spectrograms[idx[k]], fo, train && random_crop ? CropMode::Random : CropMode::Center, &rng));
    if (train && aug) spec_augment(inputs.back(), *aug, rng);
  }
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

TrainResult train_in_group(const TrainConfig& given, bool resume, bool overwrite, ProcessGroup* group) {
  const std::filesystem::path out = given.out;
  const bool main = !group || group->rank() == 0;
  const int world = group ? group->size() : 1, rank = group ? group->rank() : 0;
  ProgressBar::set_enabled_globally(main);
  auto say = [main](const char* format, auto... args) {
    if (main) std::printf(format, args...);
  };
  // Rank 0 decides and reads the run folder; the others receive what it read, so that they need not see
  // the run folder at all (another machine).
  if (group) resume = group->share(resume ? "1" : "0") == "1";
  TrainConfig config = given;
  const io::RunFolder folder(out);
  // Rank 0 holds the run folder for the whole run, and first completes (or discards) the checkpoint of a
  // run that was killed while writing one.
  std::optional<io::RunFolderLock> lock;
  auto take_folder = [&] {
    std::filesystem::create_directories(out);
    lock.emplace(folder);
    for (const auto& line : folder.recover()) std::fprintf(stderr, "note: %s: %s\n", out.c_str(), line.c_str());
  };
  if (main && std::filesystem::exists(out)) take_folder();
  if (main && !resume && !overwrite && folder.has_finished_epoch())
    throw Error(out.string(), "holds a trained run already: continue it with --resume, or train over it with --overwrite");
  if (main && resume) {
    if (!folder.has_finished_epoch())
      throw Error(out.string(), "nothing to resume: no finished epoch (last.json) in this run folder");
    config = TrainConfig::from_json(read_text_file(folder.config()));
    config.out = given.out;
    if (given.epochs > 0) config.epochs = given.epochs;  // resuming may extend or shorten a run
  }
  if (group) {
    config = TrainConfig::from_json(group->share(config.to_json()));
    config.out = given.out;
  }
  config.validate();
  const bool cuda = config.device == "cuda";
  if (cuda && !torch::cuda::is_available())
    throw Error("--device cuda", "this LibTorch build has no CUDA, or no GPU is visible");
  const int local_rank = group ? group->env().local_rank : 0;
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, local_rank) : torch::Device(torch::kCPU);
  // The processes of one machine share its cores.
  const int local_world = group ? group->env().local_world_size : 1;
  const int threads = resolve_threads(config.threads, local_world);
  at::set_num_threads(threads);
  if (main && !lock) take_folder();

  Dataset data = scan_dataset(config.data);
  Split split;
  if (main) {
    if (resume) {
      split = Split::from_json(read_text_file(folder.split()));
    } else {
      split = make_split(data, config.split, config.seed, config.split_dir, config.fold);
      folder.remove_checkpoint();  // a previous run's epochs (--overwrite, or a run stopped before its first)
      io::write_file_atomically(folder.split(), split.to_json());
      io::write_file_atomically(folder.config(), config.to_json());
    }
    if (!split.not_found.empty())
      std::fprintf(stderr, "note: %zu split entries have no clip in %s (e.g. %s)\n", split.not_found.size(),
                   config.data.c_str(), split.not_found[0].c_str());
  }
  if (group) split = Split::from_json(group->share(split.to_json()));
  FeatureCache cache(config.cache.empty() ? default_feature_cache_dir() : std::filesystem::path(config.cache), config.features);
  if (group) {
    // The processes of a machine usually share its cache: each fills its own part of what is missing,
    // then all read everything.
    std::vector<std::string> mine;
    for (const auto* ids : {&split.train, &split.valid})
      for (size_t i = 0; i < ids->size(); ++i)
        if (static_cast<int>(i % local_world) == local_rank) mine.push_back((*ids)[i]);
    load_subset(data, mine, cache, threads, "features (this process's part)", false);
    group->barrier();
  }
  LoadedSubset train_set = load_subset(data, split.train, cache, threads, "features (train)", main);
  LoadedSubset valid_set = load_subset(data, split.valid, cache, threads, "features (valid)", main);
  if (train_set.ids.empty() || valid_set.ids.empty()) throw Error(config.data, "no readable clips to train or validate on");

  ModelOptions mo = config.model;
  mo.num_classes = static_cast<int>(data.classes.size());
  torch::manual_seed(config.seed);
  ResNet model = make_model(mo);
  if (main && !resume && !config.pretrained.empty()) {
    std::filesystem::path w = config.pretrained == "imagenet" ? fetch_imagenet_weights(mo.arch) : std::filesystem::path(config.pretrained);
    LoadReport r = load_weights(model, read_weights(w).tensors);
    std::printf("pretrained %s: %s\n", w.string().c_str(), r.summary().c_str());
  }
  if (main && resume) load_weights(model, read_model_file(folder.last_model()).weights, /*strict=*/true);
  // Every process starts from rank 0's weights and statistics, as DistributedDataParallel does.
  if (group) group->broadcast(module_state(*model, true));
  // "auto" is measured by the first process alone (once per CPU and workload, then cached) and shared; a
  // resumed run keeps the precision it started in, so that it computes what the uninterrupted run would.
  std::string precision_text;
  if (main && resume && config.precision == "auto")
    precision_text = nlohmann::json::parse(read_text_file(folder.state())).value("precision", "");
  if (main && precision_text.empty())
    precision_text = precision_name(choose_training_precision(config, mo, threads).precision);
  if (group) precision_text = group->share(precision_text);
  const Precision precision = parse_precision(precision_text);
  const bool bf16 = precision == Precision::Bf16, channels_last = uses_channels_last(precision);
  auto frozen = freeze(model, config.freeze);
  if (!frozen.empty()) say("frozen: %zu parameter tensors (%s ... %s)\n", frozen.size(), frozen.front().c_str(), frozen.back().c_str());
  model->to(device);
  if (channels_last) to_channels_last(*model);
  if (group && config.sync_bn) set_batch_norm_sync(*model, [group](torch::Tensor& t) { group->all_reduce_sum(t); });

  std::vector<torch::Tensor> trainable;
  for (auto& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  if (trainable.empty()) throw Error("freeze", "every parameter is frozen: nothing would train");
  torch::optim::Adam opt(trainable, torch::optim::AdamOptions(config.lr).weight_decay(config.weight_decay));
  std::unique_ptr<GradientAverager> averager = group ? group->gradient_averager(trainable) : nullptr;
  const std::vector<torch::Tensor> buffers = module_state(*model, false);

  TrainResult result;
  int start_epoch = 1;
  if (resume) {
    std::string state_text, optimizer_bytes;
    if (main) {
      state_text = read_text_file(folder.state());
      torch::load(opt, folder.optimizer().string());
      if (group) {
        std::ostringstream os;
        torch::save(opt, os);
        optimizer_bytes = os.str();
      }
    }
    if (group) {
      state_text = group->share(state_text);
      optimizer_bytes = group->share(optimizer_bytes);
      if (!main) {
        std::istringstream is(optimizer_bytes);
        torch::load(opt, is);
      }
    }
    auto state = nlohmann::json::parse(state_text);
    start_epoch = state.at("epoch").get<int>() + 1;
    result.best_epoch = state.at("best_epoch").get<int>();
    result.best_val_acc = state.at("best_val_acc").get<double>();
    result.history = history_from_json(state.at("history"));
    say("resuming %s at epoch %d\n", out.string().c_str(), start_epoch);
  }

  ModelFile mf;
  mf.model = mo;
  mf.classes = data.classes;
  mf.features = config.features;
  const int channels = mo.input_channels;
  const SpecAugmentOptions* aug = config.specaugment ? &config.augment : nullptr;
  say("%s: %zu training and %zu validation clips, %zu classes, %s, %s, %d threads\n", mo.arch.c_str(),
      train_set.ids.size(), valid_set.ids.size(), data.classes.size(),
      bf16 ? "bf16 autocast + channels_last" : channels_last ? "fp32 channels_last" : "fp32",
      device.str().c_str(), threads);
  if (group)
    say("data-parallel: %d processes x batch %d = global batch %d, %s, batch norm %s\n", world, config.batch,
        world * config.batch, cuda ? "NCCL" : "Gloo", config.sync_bn ? "synchronised" : "per process");
  say("%5s %11s %10s %9s %8s %8s\n", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds");
  for (auto& m : result.history)
    say("%5d %11.4f %10.4f %9.4f %8.4f %8.1f\n", m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.seconds);

  auto to_device = [&](torch::Tensor x) {
    x = x.to(device);
    return channels_last ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
  };
  auto ce = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(config.label_smoothing);
  // A Ctrl-C in one process stops them all after the same step.
  auto stop_requested = [&] {
    return sum_over_processes(group, {g_stop_training ? 1.0 : 0.0})[0] > 0;
  };

  for (int epoch = start_epoch; epoch <= config.epochs; ++epoch) {
    if (stop_requested()) {
      result.interrupted = true;
      say("stopped before epoch %d: continue with --resume\n", epoch);
      break;
    }
    auto t0 = Clock::now();
    // Every epoch's randomness comes from (seed, epoch) alone, so a resumed run draws what an
    // uninterrupted one would have.
    std::mt19937 rng(config.seed * 1000003u + static_cast<unsigned>(epoch));
    torch::manual_seed(config.seed * 1000003ull + epoch);
    if (config.schedule == "cosine")
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamOptions&>(g.options())
            .lr(config.lr * 0.5 * (1 + std::cos(M_PI * (epoch - 1) / config.epochs)));
    std::vector<int> order(train_set.ids.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const std::uint64_t epoch_seed = rng();
    // As PyTorch's DistributedSampler: one order for all, padded by repeating its start to a multiple of the
    // process count; process r takes positions r, r + world, ... So 2 processes with batch 8 see the
    // clips (and crops, and masks) of 1 process with batch 16.
    const size_t per_process = (order.size() + world - 1) / world;
    std::vector<std::vector<int>> batches;
    std::vector<std::vector<std::uint32_t>> seeds;
    for (size_t k = 0; k < per_process; ++k) {
      if (k % config.batch == 0) {
        batches.emplace_back();
        seeds.emplace_back();
      }
      const size_t position = rank + k * world;
      batches.back().push_back(order[position % order.size()]);
      seeds.back().push_back(sample_seed(epoch_seed, position));
    }
    auto prepare = [&](size_t b) {
      return make_inputs(train_set, batches[b], config.features, channels, true, config.random_crop, aug, seeds[b]);
    };
    set_training_mode(model, true, config.freeze);
    double loss_sum = 0, correct = 0, seen = 0;
    ProgressBar bar("epoch " + std::to_string(epoch), per_process);
    // The next batch is prepared (crops, standardisation, SpecAugment) while this one trains.
    std::future<torch::Tensor> next = std::async(std::launch::async, prepare, 0);
    bool stopped = false;
    for (size_t b = 0; b < batches.size(); ++b) {
      torch::Tensor inputs = next.get();
      if (b + 1 < batches.size()) next = std::async(std::launch::async, prepare, b + 1);
      std::vector<int64_t> labels;
      for (int i : batches[b]) labels.push_back(train_set.labels[i]);
      torch::Tensor y = torch::tensor(labels, torch::kInt64).to(device);
      torch::Tensor x = to_device(inputs);
      opt.zero_grad();
      if (averager) averager->before_forward();
      // Per-process batch norms: every step starts from rank 0's running statistics (DDP's broadcast_buffers).
      if (group && !config.sync_bn) group->broadcast(buffers);
      torch::Tensor logits;
      {
        Bf16Autocast ac(bf16, cuda);
        logits = model->forward(x);
      }
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y, ce);
      if (averager) averager->before_backward();
      loss.backward();  // with a group, gradients are averaged over the processes as they are produced
      opt.step();
      loss_sum += loss.item<double>() * labels.size();
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      seen += static_cast<double>(labels.size());
      bar.tick(labels.size());
      if (stop_requested()) {
        stopped = true;
        break;
      }
    }
    if (next.valid()) next.wait();
    bar.finish();
    if (stopped) {
      result.interrupted = true;
      say("stopped during epoch %d; the checkpoint of epoch %d is kept: continue with --resume\n", epoch, epoch - 1);
      break;
    }
    const std::vector<double> train_totals = sum_over_processes(group, {loss_sum, correct, seen});

    // Validation: centre crops, eval mode, no augmentation; each process takes every world-th clip.
    if (group && !config.sync_bn) group->broadcast(buffers);
    model->eval();
    double vloss = 0, vcorrect = 0, vseen = 0;
    {
      torch::NoGradGuard ng;
      std::vector<int> mine;
      for (int i = rank; i < static_cast<int>(valid_set.ids.size()); i += world) mine.push_back(i);
      for (size_t i = 0; i < mine.size(); i += config.batch) {
        std::vector<int> idx(mine.begin() + i, mine.begin() + std::min(mine.size(), i + config.batch));
        torch::Tensor x = to_device(make_inputs(valid_set, idx, config.features, channels, false, false, nullptr));
        std::vector<int64_t> labels;
        for (int k : idx) labels.push_back(valid_set.labels[k]);
        torch::Tensor y = torch::tensor(labels, torch::kInt64).to(device);
        torch::Tensor logits;
        {
          Bf16Autocast ac(bf16, cuda);
          logits = model->forward(x).to(torch::kFloat32);
        }
        vloss += torch::nn::functional::cross_entropy(logits, y).item<double>() * idx.size();
        vcorrect += logits.argmax(1).eq(y).sum().item<int64_t>();
        vseen += static_cast<double>(idx.size());
      }
    }
    const std::vector<double> valid_totals = sum_over_processes(group, {vloss, vcorrect, vseen});
    EpochMetrics m{epoch, train_totals[0] / train_totals[2], train_totals[1] / train_totals[2],
                   valid_totals[0] / valid_totals[2], valid_totals[1] / valid_totals[2],
                   std::chrono::duration<double>(Clock::now() - t0).count()};
    result.history.push_back(m);
    const bool best = result.best_epoch == 0 || m.val_acc > result.best_val_acc ||
                      (m.val_acc == result.best_val_acc && m.val_loss < result.history[result.best_epoch - 1].val_loss);
    if (best) {
      result.best_epoch = epoch;
      result.best_val_acc = m.val_acc;
    }
    if (!main) continue;
    std::printf("%5d %11.4f %10.4f %9.4f %8.4f %8.1f\n", m.epoch, m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.seconds);
    std::fflush(stdout);

    // The checkpoint: every file of this epoch, committed at once (a kill leaves this epoch or the one before).
    mf.weights = state_dict(*model);
    mf.training_json = nlohmann::json({{"config", nlohmann::json::parse(config.to_json())}, {"epoch", epoch},
                                       {"metrics", history_json({m})[0]}, {"split", split.spec},
                                       {"precision", precision_text}})
                           .dump();
    const std::string state = nlohmann::json({{"epoch", epoch}, {"best_epoch", result.best_epoch},
                                              {"best_val_acc", result.best_val_acc}, {"precision", precision_text},
                                              {"history", history_json(result.history)}})
                                  .dump(1);
    auto text = [](std::string bytes) {
      return [bytes = std::move(bytes)](const std::filesystem::path& p) { io::write_file_atomically(p, bytes); };
    };
    auto model_file = [&mf](const std::filesystem::path& p) { save_model_file(p, mf); };
    std::vector<io::RunFolder::File> files = {
        {folder.last_model().filename(), model_file},
        {folder.optimizer().filename(), [&opt](const std::filesystem::path& p) {
           io::write_atomically(p, [&opt](const std::filesystem::path& tmp) { torch::save(opt, tmp.string()); });
         }},
        {folder.metrics().filename(), text(metrics_csv(result.history))},
        {folder.state().filename(), text(state)}};
    if (best) files.push_back({folder.best_model().filename(), model_file});
    folder.commit(files);
    plot_training_curves(folder.curves(), result.history);
  }
  // The run folder is complete (rank 0 has written its last checkpoint) when train() returns anywhere.
  if (group) group->barrier();
  result.best_model = folder.best_model();
  result.last_model = folder.last_model();
  if (!result.interrupted && !result.history.empty())
    say("best validation accuracy %.4f at epoch %d; model to test (test_model %s): %s\n", result.best_val_acc,
        result.best_epoch, config.test_model.c_str(),
        (config.test_model == "last" ? result.last_model : result.best_model).string().c_str());
  return result;
}

}  // namespace

TrainResult train(const TrainConfig& config, bool resume, bool overwrite) {
  ProcessGroup* group = ProcessGroup::get(config.dist_timeout, config.device == "cuda");
  if (!group) return train_in_group(config, resume, overwrite, nullptr);
  try {
    return train_in_group(config, resume, overwrite, group);
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
