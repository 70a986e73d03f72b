// genrenet weights inspect|convert|import : looking at, converting and adopting foreign weight files.
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "cli/commands.h"

namespace genrenet::cli {
namespace {

std::vector<std::string> split_classes(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int inspect(const std::string& file, bool json) {
  WeightFile w = read_weights(file);
  const std::string arch = detect_architecture(w.tensors);
  int64_t params = 0;
  for (auto& [k, t] : w.tensors) params += t.numel();
  if (json) {
    nlohmann::json j = {{"file", file}, {"architecture", arch}, {"tensors", w.tensors.size()}, {"values", params},
                        {"metadata", w.metadata}};
    for (auto& [k, t] : w.tensors)
      j["shapes"][k] = {{"shape", t.sizes().vec()}, {"dtype", std::string(c10::toString(t.scalar_type()))}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  for (auto& [k, t] : w.tensors)
    std::printf("%-45s %-10s %s\n", k.c_str(), c10::toString(t.scalar_type()), c10::str(t.sizes()).c_str());
  std::printf("%zu tensors, %lld values; architecture: %s\n", w.tensors.size(), static_cast<long long>(params),
              arch.empty() ? "not recognised" : arch.c_str());
  for (auto& [k, v] : w.metadata) std::printf("metadata %s: %s\n", k.c_str(), v.c_str());
  return 0;
}

}  // namespace

void add_weights_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("weights", "Inspect, convert and import weight files (.pth, .safetensors)");
  cmd->require_subcommand(1);

  struct InspectArgs {
    std::string file;
    bool json = false;
  };
  auto ia = std::make_shared<InspectArgs>();
  auto* ins = cmd->add_subcommand("inspect", "List a weight file's tensors, shapes and dtypes, and its architecture");
  ins->add_option("FILE", ia->file, "A .pth checkpoint or a .safetensors file")->required();
  ins->add_flag("--json", ia->json, "As JSON");
  ins->callback([ia, &exit_code] { exit_code = inspect(ia->file, ia->json); });

  struct ConvertArgs {
    std::string in, out;
  };
  auto ca = std::make_shared<ConvertArgs>();
  auto* conv = cmd->add_subcommand("convert", "Convert a PyTorch checkpoint to safetensors (tensors only)");
  conv->add_option("IN", ca->in, "A .pth checkpoint (zip or legacy format)")->required();
  conv->add_option("OUT", ca->out, "The .safetensors file to write")->required();
  conv->callback([ca, &exit_code] {
    WeightFile w = read_weights(ca->in);
    write_safetensors(ca->out, w.tensors, w.metadata);
    std::printf("wrote %s (%zu tensors)\n", ca->out.c_str(), w.tensors.size());
    exit_code = 0;
  });

  struct ImportArgs {
    std::string in, arch, classes, out, url;
    int input_channels = 3;
    bool offline = false;
    FeatureFlags features;
  };
  auto ma = std::make_shared<ImportArgs>();
  auto* imp = cmd->add_subcommand("import", "Make a genrenet model file from foreign weights");
  imp->add_option("IN", ma->in, "Weight file (.pth/.safetensors), or \"imagenet\" for torchvision's")->required();
  imp->add_option("--arch", ma->arch, "resnet18, resnet34, resnet50 or seresnet50 (default: detected)");
  imp->add_option("--classes", ma->classes, "Comma-separated class names, in output order")->required();
  imp->add_option("--out,-o", ma->out, "The model file to write (.safetensors)")->required();
  imp->add_option("--input-channels", ma->input_channels, "3 (input repeated) or 1 (conv1 summed over RGB)")
      ->capture_default_str();
  imp->add_option("--url", ma->url, "Download address instead of torchvision's (with IN = imagenet)");
  imp->add_flag("--offline", ma->offline, "Never download; use the torch hub cache only");
  ma->features.add_to(imp);
  imp->callback([ma, &exit_code] {
    if (ma->in == "imagenet" && ma->arch.empty()) throw Error("--arch", "needed with IN = imagenet");
    std::filesystem::path src = ma->in == "imagenet" ? fetch_imagenet_weights(ma->arch, !ma->offline, ma->url)
                                                     : std::filesystem::path(ma->in);
    const ImportedModel m = import_weights(src, ma->out, {ma->arch, split_classes(ma->classes), ma->input_channels,
                                                          ma->features.resolve()});
    const LoadReport& r = m.report;
    std::printf("%s: %s\n", src.string().c_str(), r.summary().c_str());
    if (!r.skipped.empty())
      std::printf("note: the head (fc) was made for %d classes and starts from random weights: train it\n",
                  m.model.num_classes);
    std::printf("wrote %s (%s, %d classes)\n", ma->out.c_str(), m.model.arch.c_str(), m.model.num_classes);
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
