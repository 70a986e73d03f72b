// TrainConfig: validation and JSON (the form saved into every run folder and accepted by --config).
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include <genrenet/train.h>

#include "common/json_number.h"
#include "train/config_file.h"

namespace genrenet {

void TrainConfig::validate() const {
  auto bad = [](const std::string& field, const std::string& rule) { throw Error("training option " + field, rule); };
  if (data.empty()) bad("data", "no dataset folder given");
  if (epochs < 1 || epochs > 100000) bad("epochs", "must be in [1, 100000]");
  if (batch < 1 || batch > 4096) bad("batch", "must be in [1, 4096]");
  if (!(lr > 0 && lr <= 1)) bad("lr", "must be in (0, 1]");
  if (!(weight_decay >= 0 && weight_decay < 1)) bad("weight_decay", "must be in [0, 1)");
  if (!(label_smoothing >= 0 && label_smoothing < 1)) bad("label_smoothing", "must be in [0, 1)");
  if (schedule != "constant" && schedule != "cosine") bad("schedule", "must be constant or cosine");
  try {
    ComputeOptions{device, precision, threads}.validate(/*allow_int8=*/false);
  } catch (const Error& e) {
    bad(e.subject(), e.reason());
  }
  if (dist_timeout < 10 || dist_timeout > 86400) bad("dist_timeout", "must be in [10, 86400] seconds");
  if (test_model != "best" && test_model != "last") bad("test_model", "must be best or last");
  model.validate();
  augment.validate();
  features.validate();
}

std::string TrainConfig::to_json() const {
  nlohmann::json j = {
      {"data", data}, {"split", split}, {"split_dir", split_dir}, {"fold", fold}, {"cache", cache}, {"out", out},
      {"model", {{"arch", model.arch}, {"input_channels", model.input_channels}, {"dropout", model.dropout}}},
      {"pretrained", pretrained},
      {"freeze", {{"children", freeze.children}, {"params", freeze.params}, {"regex", freeze.regex},
                  {"frozen_bn_train", freeze.frozen_bn_train}}},
      {"epochs", epochs}, {"batch", batch}, {"lr", lr}, {"weight_decay", weight_decay},
      {"label_smoothing", label_smoothing}, {"schedule", schedule}, {"specaugment", specaugment},
      {"augment", {{"freq_masks", augment.freq_masks}, {"freq_mask_width", augment.freq_mask_width},
                   {"time_masks", augment.time_masks}, {"time_mask_width", augment.time_mask_width},
                   {"time_warp", augment.time_warp}, {"mask_value", augment.mask_value}}},
      {"random_crop", random_crop}, {"seed", seed}, {"precision", precision}, {"device", device},
      {"threads", threads}, {"sync_bn", sync_bn}, {"dist_timeout", dist_timeout}, {"test_model", test_model}, {"features", nlohmann::json::parse(features.to_json())}};
  return j.dump(2);
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error("training config", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw Error("training config", "expected a JSON object");
  TrainConfig c;
  auto sub = [](const nlohmann::json& o, const char* key, auto& field, const std::string& where) {
    if (o.contains(key)) field = o.at(key).get<std::remove_reference_t<decltype(field)>>();
    (void)where;
  };
  for (auto& [key, v] : j.items()) {
    try {
      if (key == "data") c.data = v.get<std::string>();
      else if (key == "split") c.split = v.get<std::string>();
      else if (key == "split_dir") c.split_dir = v.get<std::string>();
      else if (key == "fold") c.fold = json_int(v, "training option " + key);
      else if (key == "cache") c.cache = v.get<std::string>();
      else if (key == "out") c.out = v.get<std::string>();
      else if (key == "pretrained") c.pretrained = v.get<std::string>();
      else if (key == "epochs") c.epochs = json_int(v, "training option " + key);
      else if (key == "batch") c.batch = json_int(v, "training option " + key);
      else if (key == "lr") c.lr = v.get<double>();
      else if (key == "weight_decay") c.weight_decay = v.get<double>();
      else if (key == "label_smoothing") c.label_smoothing = v.get<double>();
      else if (key == "schedule") c.schedule = v.get<std::string>();
      else if (key == "specaugment") c.specaugment = v.get<bool>();
      else if (key == "random_crop") c.random_crop = v.get<bool>();
      else if (key == "seed") c.seed = v.get<unsigned>();
      else if (key == "precision") c.precision = v.get<std::string>();
      else if (key == "device") c.device = v.get<std::string>();
      else if (key == "threads") c.threads = json_int(v, "training option " + key);
      else if (key == "sync_bn") c.sync_bn = v.get<bool>();
      else if (key == "dist_timeout") c.dist_timeout = json_int(v, "training option " + key);
      else if (key == "test_model") c.test_model = v.get<std::string>();
      else if (key == "features") c.features = FeatureOptions::from_json(v.dump());
      else if (key == "model") {
        for (auto& [k, _] : v.items())
          if (k != "arch" && k != "input_channels" && k != "dropout" && k != "num_classes")
            throw Error("training option model." + k, "unknown option");
        sub(v, "arch", c.model.arch, key);
        sub(v, "input_channels", c.model.input_channels, key);
        sub(v, "dropout", c.model.dropout, key);
      } else if (key == "freeze") {
        for (auto& [k, _] : v.items())
          if (k != "children" && k != "params" && k != "regex" && k != "frozen_bn_train")
            throw Error("training option freeze." + k, "unknown option");
        sub(v, "children", c.freeze.children, key);
        sub(v, "params", c.freeze.params, key);
        sub(v, "regex", c.freeze.regex, key);
        sub(v, "frozen_bn_train", c.freeze.frozen_bn_train, key);
      } else if (key == "augment") {
        for (auto& [k, _] : v.items())
          if (k != "freq_masks" && k != "freq_mask_width" && k != "time_masks" && k != "time_mask_width" &&
              k != "time_warp" && k != "mask_value")
            throw Error("training option augment." + k, "unknown option");
        sub(v, "freq_masks", c.augment.freq_masks, key);
        sub(v, "freq_mask_width", c.augment.freq_mask_width, key);
        sub(v, "time_masks", c.augment.time_masks, key);
        sub(v, "time_mask_width", c.augment.time_mask_width, key);
        sub(v, "time_warp", c.augment.time_warp, key);
        sub(v, "mask_value", c.augment.mask_value, key);
      } else {
        throw Error("training option " + key, "unknown option");
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error("training option " + key, "wrong type: " + v.dump());
    }
  }
  return c;
}

std::string config_file_as_json(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path);
  if (!in) throw Error(name, "cannot read the training config");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string json = ss.str();
  if (path.extension() == ".toml") {
    // TOML is read into the same JSON form, so both formats have one set of names and checks.
    try {
      toml::table t = toml::parse(json, name);
      std::stringstream js;
      js << toml::json_formatter{t};
      json = js.str();
    } catch (const toml::parse_error& e) {
      throw Error(name, "line " + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
    }
  }
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
