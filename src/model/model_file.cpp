// genrenet's model file: safetensors whose __metadata__ says everything needed to use the weights.
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "common/json_number.h"
#include "common/option_tables.h"
#include "common/sha256.h"
#include "common/text.h"

#include "compute/random_state.h"

namespace genrenet {
namespace {

constexpr const char* kFormat = "genrenet-model";

}  // namespace

namespace {

// Class names are shown, written into tags ({genre}) and used as JSON keys: each one distinct, printable
// and without the characters of TagOptions::format's placeholders.
void check_class_names(const std::vector<std::string>& classes, const std::string& subject) {
  std::set<std::string> seen;
  for (const std::string& c : classes) {
    const std::string shown = "class name \"" + printable(c) + "\"";
    if (c.empty()) throw Error(subject, "an empty class name");
    if (c.size() > 200) throw Error(subject, shown + " is longer than 200 bytes");
    for (const unsigned char ch : c)
      if (ch < 0x20 || ch == 0x7f || ch == '{' || ch == '}')
        throw Error(subject, shown + " holds a control character or a brace");
    if (utf8_safe(c) != c) throw Error(subject, shown + " is not valid UTF-8");
    if (!seen.insert(c).second) throw Error(subject, shown + " appears twice: every class needs a name of its own");
  }
}

}  // namespace

void save_model_file(const std::filesystem::path& path, const ModelFile& f) {
  f.model.validate();
  check_class_names(f.classes, path.string());
  if (static_cast<int>(f.classes.size()) != f.model.num_classes)
    throw Error(path.string(), "the model has " + std::to_string(f.model.num_classes) + " outputs but " +
                                   std::to_string(f.classes.size()) + " class names");
  const nlohmann::json model = model_options_table().to_json(f.model);
  std::map<std::string, std::string> meta = {{"format", kFormat},
                                             {"version", "1"},
                                             {"model", model.dump()},
                                             {"classes", nlohmann::json(f.classes).dump()},
                                             {"features", f.features.to_json()},
                                             {"training", f.training_json}};
  if (!f.int8.empty()) meta["int8"] = f.int8.to_json();
  if (!f.calibration.empty()) meta["calibration"] = f.calibration.to_json();
  write_safetensors(path, f.weights, meta);
}

// The int8 calibration is part of the model file's metadata ("int8"), read and written with it.
std::string Int8Calibration::to_json() const {
  nlohmann::json r = nlohmann::json::object();
  for (auto& [point, range] : ranges) r[point] = {range.first, range.second};
  return nlohmann::json({{"method", method}, {"clips", clips}, {"ranges", r}}).dump();
}

Int8Calibration Int8Calibration::from_json(const std::string& text, const std::string& subject) {
  Int8Calibration c;
  try {
    auto j = nlohmann::json::parse(text);
    c.method = j.at("method").get<std::string>();
    c.clips = json_int(j.at("clips"), subject);
    for (auto& [point, range] : j.at("ranges").items()) {
      if (!range.is_array() || range.size() != 2)
        throw Error(subject, "the int8 range of \"" + point + "\" is not a [min, max] pair: " + range.dump());
      const float lo = json_float(range.at(0), subject), hi = json_float(range.at(1), subject);
      if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
        throw Error(subject, "the range of \"" + point + "\" is not a finite [min, max]");
      // The activations of a network on standardised log-mels are far inside ±1e6, and a range narrower
      // than 1e-6 cannot be quantised: either would turn int8 answers into noise.
      if (std::abs(lo) > 1e6f || std::abs(hi) > 1e6f || hi - lo < 1e-6f)
        throw Error(subject, "the int8 range of \"" + point + "\" [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                 "] is not one calibration makes (damaged or edited): quantize the model again");
      c.ranges[point] = {lo, hi};
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(subject, std::string("damaged int8 calibration (") + e.what() + ")");
  }
  return c;
}

std::string ConfidenceCalibration::to_json() const {
  return nlohmann::json({{"temperature", temperature}, {"energy_threshold", energy_threshold},
                         {"energy_tpr", energy_tpr}, {"clips", clips}, {"subset", subset},
                         {"nll_before", nll_before}, {"nll_after", nll_after},
                         {"ece_before", ece_before}, {"ece_after", ece_after}})
      .dump();
}

ConfidenceCalibration ConfidenceCalibration::from_json(const std::string& text, const std::string& subject) {
  ConfidenceCalibration c;
  try {
    auto j = nlohmann::json::parse(text);
    c.temperature = json_finite<double>(j.at("temperature"), subject + " temperature");
    c.energy_threshold = json_finite<double>(j.at("energy_threshold"), subject + " energy_threshold");
    c.energy_tpr = json_finite<double>(j.at("energy_tpr"), subject + " energy_tpr");
    c.clips = json_whole<int>(j.at("clips"), subject + " clips");
    c.subset = j.value("subset", "");
    for (auto [key, field] : {std::pair{"nll_before", &c.nll_before}, {"nll_after", &c.nll_after},
                              {"ece_before", &c.ece_before}, {"ece_after", &c.ece_after}})
      if (j.contains(key)) *field = json_finite<double>(j[key], subject + " " + key);
  } catch (const nlohmann::json::exception& e) {
    throw Error(subject, std::string("damaged confidence calibration (") + e.what() + ")");
  }
  // A temperature out of range would make every answer certain (near 0) or uniform (huge): refused.
  if (!(c.temperature > 0.01 && c.temperature <= 100))
    throw Error(subject, "temperature must be in (0.01, 100], got " + std::to_string(c.temperature));
  if (!(c.energy_tpr > 0 && c.energy_tpr <= 1))
    throw Error(subject, "energy_tpr must be in (0, 1], got " + std::to_string(c.energy_tpr));
  if (c.clips < 0) throw Error(subject, "clips must not be negative");
  return c;
}

ModelFile read_model_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  if (path.extension() != ".safetensors" && std::filesystem::is_regular_file(path)) {
    // A genrenet model is always safetensors; say so instead of failing deep in a parser.
    std::ifstream in(path, std::ios::binary);
    char head[2] = {0};
    in.read(head, 2);
    if (head[0] == 'P' && head[1] == 'K')
      throw Error(name, "a PyTorch checkpoint, not a genrenet model: make one with `genrenet weights import`");
  }
  WeightFile w = read_safetensors(path);
  auto meta = [&](const char* key) -> const std::string& {
    auto it = w.metadata.find(key);
    if (it == w.metadata.end())
      throw Error(name, std::string("not a genrenet model file (no \"") + key +
                            "\" in its metadata); foreign weights go through `genrenet weights import`");
    return it->second;
  };
  if (meta("format") != kFormat) throw Error(name, "not a genrenet model file");
  if (meta("version") != "1") throw Error(name, "model file version " + meta("version") + " is not supported");
  ModelFile f;
  try {
    auto m = nlohmann::json::parse(meta("model"));
    for (const char* required : {"arch", "num_classes", "input_channels"}) m.at(required);  // dropout came later
    model_options_table().from_json(f.model, m);
    f.classes = nlohmann::json::parse(meta("classes")).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(name, std::string("damaged model metadata (") + e.what() + ")");
  } catch (const Error& e) {
    throw Error(name, std::string("damaged model metadata (") + e.what() + ")");
  }
  try {
    f.model.validate();
  } catch (const Error& e) {
    throw Error(name, e.what());
  }
  if (static_cast<int>(f.classes.size()) != f.model.num_classes)
    throw Error(name, "class names and model outputs differ in number");
  check_class_names(f.classes, name);
  try {
    f.features = FeatureOptions::from_json(meta("features"));
  } catch (const Error& e) {
    throw Error(name, e.what());
  }
  f.training_json = w.metadata.count("training") ? w.metadata["training"] : "{}";
  if (w.metadata.count("int8")) f.int8 = Int8Calibration::from_json(w.metadata["int8"], name);
  if (w.metadata.count("calibration")) f.calibration = ConfidenceCalibration::from_json(w.metadata["calibration"], name);
  f.weights = std::move(w.tensors);
  return f;
}

ModelIdentity model_identity(const std::filesystem::path& model_file) {
  std::ifstream in(model_file, std::ios::binary);
  unsigned char size[8] = {0};
  if (!in.read(reinterpret_cast<char*>(size), 8)) throw Error(model_file.string(), "cannot read the model file");
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | size[i];
  in.seekg(static_cast<std::streamoff>(8 + header));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {model_file, sha256_hex(data)};
}

ResNet load_model(const ModelFile& f) {
  // The network's random initialisation is overwritten at once: it must not move the caller's random
  // sequence (a Classifier made in the middle of a program would otherwise change what comes after).
  ResNet model{nullptr};
  {
    ScopedRandomState keep_random_sequence;
    model = ResNet(f.model, /*torchvision_init=*/false);  // strict loading overwrites every parameter
  }
  load_weights(model, f.weights, /*strict=*/true);
  model->eval();
  return model;
}

ImportedModel import_weights(const std::filesystem::path& weights, const std::filesystem::path& out,
                             const ImportOptions& o) {
  if (o.classes.empty()) throw Error("classes", "no class names");
  const WeightFile w = read_weights(weights);
  const std::string detected = detect_architecture(w.tensors);
  ModelFile f;
  f.model.arch = o.arch.empty() ? detected : o.arch;
  if (f.model.arch.empty()) throw Error(weights.string(), "architecture not recognised; name it (--arch)");
  if (!o.arch.empty() && !detected.empty() && detected != o.arch)
    throw Error(weights.string(), "holds " + detected + " weights, not " + o.arch);
  f.classes = o.classes;
  f.model.num_classes = static_cast<int>(f.classes.size());
  f.model.input_channels = o.input_channels;
  f.features = o.features;
  ResNet model = make_model(f.model);
  ImportedModel result{f.model, load_weights(model, w.tensors)};
  f.weights = state_dict(*model);
  f.training_json = nlohmann::json({{"imported_from", weights.string()}, {"load_report", result.report.summary()}}).dump();
  save_model_file(out, f);
  return result;
}

}  // namespace genrenet
