// TrainConfig: validation and JSON (the form saved into every run folder and accepted by --config).
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include <genrenet/train.h>

#include "common/option_tables.h"
#include "io/toml_json.h"
#include "train/config_file.h"

namespace genrenet {

namespace {

options::Table<TrainConfig> make_table() {
  using C = TrainConfig;
  options::Table<C> t("training option", "Training");
  t.text("data", &C::data, {}, "Dataset folder (GTZAN layouts or <root>/<class>/<files>)", "--data")
      .check([](const C& c) {
        if (c.data.empty() == c.tags.libraries.empty())
          return std::string(c.data.empty() ? "no dataset folder given (or libraries with genre tags, --from-tags)"
                                            : "give a dataset folder or libraries with genre tags (--from-tags), not both");
        return std::string();
      });
  t.nest("tags", &C::tags, genre_tag_options_table());
  t.text("split", &C::split, {}, "paper, album, artist, sturm, kfold:K or lists:TRAIN,VALID,TEST", "--split");
  t.text("split_dir", &C::split_dir, {}, "Folder of {train,valid,test}_filtered.txt for --split sturm", "--split-dir");
  t.integer("fold", &C::fold, {0, 1000}, "The test fold of a kfold:K split");
  t.text("cache", &C::cache, {}, "Feature cache folder (default: ~/.cache/genrenet/features)", "--cache");
  t.text("out", &C::out, {}, "Run folder", "--out,-o");
  // num_classes is the number of class folders in the dataset, never a setting.
  t.nest("model", &C::model, model_options_table(), {"num_classes"});
  t.text("pretrained", &C::pretrained, {}, "A weight file (.pth, .safetensors) or \"imagenet\"", "--pretrained");
  t.text("init", &C::init, {}, "Start from this genrenet model file with a new head (its architecture and features)",
         "--init")
      .check([](const C& c) {
        return !c.init.empty() && !c.pretrained.empty() ? std::string("give init or pretrained, not both") : std::string();
      });
  t.text("balance", &C::balance, {"auto", "none", "weights", "sampling"},
         "Classes of unequal size: loss weights, balanced sampling, none (auto: weights for --from-tags)", "--balance");
  t.nest("freeze", &C::freeze, freeze_options_table());
  t.integer("epochs", &C::epochs, {1, 100000}, "Epochs", "--epochs");
  t.integer("batch", &C::batch, {1, 4096}, "Batch size (per process)", "--batch");
  t.number("lr", &C::lr, {0, 1, true}, "Adam's learning rate", "--lr");
  t.number("weight_decay", &C::weight_decay, {0, 1, false, true}, "Adam's L2 weight decay", "--weight-decay");
  t.number("label_smoothing", &C::label_smoothing, {0, 1, false, true}, "Label smoothing", "--label-smoothing");
  t.text("schedule", &C::schedule, {"constant", "cosine"}, "Learning rate schedule (cosine: to 0 over the epochs)", "--schedule");
  t.boolean("specaugment", &C::specaugment, "SpecAugment every training sample, afresh every epoch", "--specaugment");
  t.nest("augment", &C::augment, spec_augment_options_table());
  t.boolean("random_crop", &C::random_crop, "Random crops in training (--no-random-crop: centre crops)", "--no-random-crop",
            false);
  t.integer("seed", &C::seed, {0, 4294967295.0}, "Random seed (split, order, crops, augmentation)", "--seed");
  t.text("device", &C::device, {"cpu", "cuda"}, "Device", "--device");
  t.text("precision", &C::precision, {"auto", "fp32", "fp32-cl", "bf16"},
         "auto: measured once per CPU and workload, cached", "--precision")
      .check([](const C& c) {
        try {
          ComputeOptions{c.device, c.precision, c.threads}.validate(/*allow_int8=*/false);
          return std::string();
        } catch (const Error& e) {
          return e.reason();
        }
      });
  t.text("trunk_precision", &C::trunk_precision, {"auto", "off", "fp32", "fp32-cl", "bf16", "int8"},
         "The frozen first layers run as an inference network in this precision (auto: measured; fp32: exactly as "
         "without; off: as a training network)", "--trunk-precision")
      .check([](const C& c) {
        return c.device == "cuda" && c.trunk_precision == "int8" ? std::string("int8 runs on the CPU only")
                                                                  : std::string();
      });
  t.integer("threads", &C::threads, {0, 1024}, "Threads (0: every core)", "--threads");
  t.boolean("sync_bn", &C::sync_bn, "Data-parallel: batch norms use the statistics of the global batch", "--sync-bn");
  t.integer("dist_timeout", &C::dist_timeout, {10, 86400}, "Data-parallel: seconds to wait for another process",
            "--dist-timeout");
  t.text("test_model", &C::test_model, {"best", "last"},
         "Model to test: best (best validation accuracy) or last (final epoch)", "--test-model");
  t.nest("features", &C::features, feature_options_table());
  return t;
}

}  // namespace

const options::Table<TrainConfig>& train_config_table() {
  static const options::Table<TrainConfig> table = make_table();
  return table;
}

void TrainConfig::validate() const { train_config_table().validate(*this); }

std::string TrainConfig::to_json() const { return train_config_table().to_json(*this).dump(2); }

TrainConfig TrainConfig::from_json(const std::string& text) {
  return train_config_table().parse(text, "training config");
}

std::string dataset_name(const TrainConfig& config) {
  return config.tags.libraries.empty() ? config.data : config.tags.libraries.front();
}

Dataset training_dataset(const TrainConfig& config, TaggedLibrary* report) {
  if (config.tags.libraries.empty()) return scan_dataset(config.data);
  TaggedLibrary t = scan_tagged_library(config.tags);
  if (!report) return std::move(t.data);
  *report = std::move(t);
  return report->data;
}

std::string config_file_as_json(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path);
  if (!in) throw Error(name, "cannot read the training config");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string json = ss.str();
  // TOML is read into the same JSON form, so both formats have one set of names and checks.
  if (path.extension() == ".toml") json = io::toml_as_json(json, name);
  return json;
}

TrainConfig TrainConfig::from_file(const std::filesystem::path& path) {
  const std::string json = config_file_as_json(path);
  try {
    return from_json(json);
  } catch (const Error& e) {
    throw Error(path.string(), e.what());
  }
}

}  // namespace genrenet
