// Loading foreign weights into a genrenet ResNet, and torchvision's ImageNet files (cache and download).
#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "common/log.h"
#include "common/progress.h"
#include "common/finite.h"
#include "io/atomic_file.h"

namespace genrenet {
namespace {

// No NaN or infinity among a floating-point tensor's values. fp32 and fp64 are read in place: isfinite()
// built a boolean and an absolute-value tensor of each weight's size, fresh memory at every model load.
bool all_finite(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  if (c.scalar_type() == torch::kFloat32) return genrenet::all_finite(c.data_ptr<float>(), static_cast<size_t>(c.numel()));
  if (c.scalar_type() == torch::kFloat64) {
    const double* v = c.data_ptr<double>();
    return std::all_of(v, v + c.numel(), [](double x) { return std::isfinite(x); });
  }
  return torch::isfinite(c).all().item<bool>();
}

}  // namespace

TensorMap state_dict(const torch::nn::Module& model) {
  // Copies: a CPU tensor's .to(kCPU).contiguous() would be the live parameter itself.
  auto copy = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).clone(at::MemoryFormat::Contiguous); };
  TensorMap out;
  for (auto& p : model.named_parameters(true)) out[p.key()] = copy(p.value());
  for (auto& b : model.named_buffers(true)) out[b.key()] = copy(b.value());
  return out;
}

std::string detect_architecture(const TensorMap& t) {
  if (!t.count("conv1.weight") || !t.count("layer4.0.conv1.weight")) return "";
  int layer3_blocks = 0;
  std::regex block(R"(layer3\.(\d+)\..*)");
  for (auto& [k, v] : t) {
    std::smatch m;
    if (std::regex_match(k, m, block)) layer3_blocks = std::max(layer3_blocks, std::stoi(m[1]) + 1);
  }
  const bool bottleneck = t.count("layer1.0.conv3.weight") > 0;
  const bool se = t.count("layer1.0.se.fc1.weight") > 0;
  if (bottleneck && layer3_blocks == 6) return se ? "seresnet50" : "resnet50";
  if (!bottleneck && !se && layer3_blocks == 2) return "resnet18";
  if (!bottleneck && !se && layer3_blocks == 6) return "resnet34";
  return "";
}

std::string LoadReport::summary() const {
  std::string s = std::to_string(loaded.size()) + " tensors loaded";
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    s += "; " + std::to_string(v.size()) + " " + what + ":";
    for (size_t i = 0; i < v.size() && i < 6; ++i) s += " " + v[i];
    if (v.size() > 6) s += " ...";
  };
  list("skipped (other class count)", skipped);
  list("missing", missing);
  list("unexpected", unexpected);
  return s;
}

LoadReport load_weights(ResNet& model, const TensorMap& tensors, bool strict) {
  torch::NoGradGuard no_grad;
  LoadReport report;
  std::set<std::string> used;
  auto visit = [&](const std::string& key, torch::Tensor dst) {
    auto it = tensors.find(key);
    if (it == tensors.end()) {
      report.missing.push_back(key);
      return;
    }
    used.insert(key);
    torch::Tensor src = it->second;
    // ImageNet's RGB conv1 on a one-channel spectrogram: summing over RGB gives what repeating the
    // spectrogram three times would. The other way round, the one channel is shared out evenly.
    if (key == "conv1.weight" && src.dim() == 4 && dst.dim() == 4 && src.size(1) != dst.size(1)) {
      if (src.size(1) == 3 && dst.size(1) == 1) src = src.sum(1, /*keepdim=*/true);
      else if (src.size(1) == 1 && dst.size(1) == 3) src = src.repeat({1, 3, 1, 1}) / 3.0;
    }
    if (dst.is_floating_point() && !src.is_floating_point())
      throw Error(key, std::string("holds ") + c10::toString(src.scalar_type()) + " values where the model has " +
                           c10::toString(dst.scalar_type()) + " weights: not a weight file of this model");
    if (src.is_floating_point() && !all_finite(src))
      throw Error(key, "holds NaN or infinite values");
    if (src.sizes() != dst.sizes()) {
      if (key.rfind("fc.", 0) == 0) {  // a head for another number of classes: start this one afresh
        report.skipped.push_back(key);
        return;
      }
      throw Error(key, "shape mismatch: the weights have " + c10::str(src.sizes()) + ", the model needs " +
                           c10::str(dst.sizes()));
    }
    dst.copy_(src.to(dst.dtype()));
    report.loaded.push_back(key);
  };
  for (auto& p : model->named_parameters(true)) visit(p.key(), p.value());
  for (auto& b : model->named_buffers(true)) visit(b.key(), b.value());
  for (auto& [k, v] : tensors)
    if (!used.count(k)) report.unexpected.push_back(k);
  if (strict && (!report.missing.empty() || !report.unexpected.empty() || !report.skipped.empty()))
    throw Error("weights", "do not match the model: " + report.summary());
  return report;
}

PretrainedSource imagenet_source(const std::string& arch) {
  // torchvision's IMAGENET1K_V1 weights; the hex in the name is the start of the file's SHA-256.
  static const std::map<std::string, std::string> files = {{"resnet18", "resnet18-f37072fd.pth"},
                                                           {"resnet34", "resnet34-b627a593.pth"},
                                                           {"resnet50", "resnet50-0676ba61.pth"}};
  auto it = files.find(arch);
  if (it == files.end())
    throw Error("pretrained imagenet", "torchvision has no ImageNet weights for " + arch +
                                             "; give a weight file instead (timm's seresnet50 .safetensors "
                                             "for SE-ResNet-50)");
  const std::string& f = it->second;
  return {f, "https://download.pytorch.org/models/" + f, f.substr(f.find('-') + 1, 8)};
}

std::filesystem::path torch_hub_checkpoints_dir() {
  if (const char* th = std::getenv("TORCH_HOME"); th && *th) return std::filesystem::path(th) / "hub" / "checkpoints";
  std::filesystem::path cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) cache = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) cache = std::filesystem::path(home) / ".cache";
  else cache = ".cache";
  return cache / "torch" / "hub" / "checkpoints";
}

namespace {

struct Download {
  std::FILE* out;
  std::unique_ptr<ProgressBar> bar;
  curl_off_t reported = 0;
};

size_t write_body(char* data, size_t size, size_t n, void* user) {
  return std::fwrite(data, size, n, static_cast<Download*>(user)->out) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* d = static_cast<Download*>(user);
  if (total > 0 && !d->bar) d->bar = std::make_unique<ProgressBar>("download", static_cast<size_t>(total));
  if (d->bar && now > d->reported) {
    d->bar->tick(static_cast<size_t>(now - d->reported));
    d->reported = now;
  }
  return 0;
}

}  // namespace

std::filesystem::path fetch_weights(const PretrainedSource& src, bool allow_download) {
  const auto dir = torch_hub_checkpoints_dir();
  const auto target = dir / src.file_name;
  if (std::filesystem::is_regular_file(target)) return target;
  if (!allow_download)
    throw Error(src.file_name, "not in the cache; put torchvision's file at " + target.string());
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!curl_ready) throw Error("download", "libcurl could not start");
  log(LogLevel::Note, "downloading " + src.url + " to " + target.string());
  io::write_atomically(target, [&](const std::filesystem::path& tmp) {
    Download d{std::fopen(tmp.c_str(), "wb"), nullptr};
    if (!d.out) throw Error(tmp.string(), "cannot write");
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    char err[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl.get(), CURLOPT_URL, src.url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);  // give up on a stalled transfer
    curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &d);
    CURLcode rc = curl_easy_perform(curl.get());
    std::fclose(d.out);
    if (d.bar) d.bar->finish();
    if (rc != CURLE_OK)
      throw Error(src.url, std::string("download failed (") + (err[0] ? err : curl_easy_strerror(rc)) +
                               "). Offline? Put torchvision's " + src.file_name + " at " + target.string());
    std::string sha = sha256_file(tmp);
    if (sha.compare(0, src.sha256_prefix.size(), src.sha256_prefix) != 0)
      throw Error(src.url, "the downloaded file's SHA-256 " + sha.substr(0, 16) + "... does not start with " +
                               src.sha256_prefix + " as its name promises; not kept");
  });
  return target;
}

std::filesystem::path fetch_imagenet_weights(const std::string& arch, bool allow_download,
                                             const std::string& url_override) {
  PretrainedSource src = imagenet_source(arch);
  if (!url_override.empty()) src.url = url_override;
  return fetch_weights(src, allow_download);
}

}  // namespace genrenet
