// ResNet-18/34/50 and SE-ResNet-50, module for module as torchvision.models.resnet (and timm's seresnet50),
// so that their state dicts load one to one.
#include <cmath>
#include <cstring>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "common/option_tables.h"

namespace genrenet {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias = false) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}

// timm's make_divisible(channels / 16, 8): the SE bottleneck width.
int64_t se_width(int64_t channels) {
  const double v = channels / 16.0;
  int64_t w = std::max<int64_t>(8, static_cast<int64_t>(v + 4) / 8 * 8);
  if (w < 0.9 * v) w += 8;
  return w;
}

nn::Sequential downsample_path(int64_t in, int64_t out, int64_t stride) {
  return nn::Sequential(conv(in, out, 1, stride, 0), SyncBatchNorm2d(out));
}

struct ArchSpec {
  const char* name;
  bool bottleneck;
  bool se;
  int blocks[4];
};

constexpr ArchSpec kArchs[] = {
    {"resnet18", false, false, {2, 2, 2, 2}},
    {"resnet34", false, false, {3, 4, 6, 3}},
    {"resnet50", true, false, {3, 4, 6, 3}},
    {"seresnet50", true, true, {3, 4, 6, 3}},
};

const ArchSpec& spec_of(const std::string& arch) {
  for (auto& s : kArchs)
    if (arch == s.name) return s;
  std::string names;
  for (auto& s : kArchs) names += (names.empty() ? "" : ", ") + std::string(s.name);
  throw Error("model option arch", "unknown architecture \"" + arch + "\" (available: " + names + ")");
}

}  // namespace

const options::Table<ModelOptions>& model_options_table() {
  using O = ModelOptions;
  static const options::Table<O> table = [] {
    std::vector<std::string> archs;
    for (auto& s : kArchs) archs.push_back(s.name);
    options::Table<O> t("model option", "Model");
    t.text("arch", &O::arch, archs, "Architecture", "--model");
    t.integer("num_classes", &O::num_classes, {1, 100000}, "Outputs of fc (set by the dataset's classes in training)");
    t.integer("input_channels", &O::input_channels, {1, 3}, "1, or 3 (the spectrogram repeated, as ImageNet weights expect)",
              "--input-channels")
        .check([](const O& o) { return o.input_channels == 2 ? std::string("must be 1 or 3, got 2") : std::string(); });
    t.number("dropout", &O::dropout, {0, 1, false, true}, "Dropout before the head", "--dropout");
    return t;
  }();
  return table;
}

void ModelOptions::validate() const { model_options_table().validate(*this); }

SqueezeExcitationImpl::SqueezeExcitationImpl(int64_t channels, int64_t reduced) {
  fc1 = register_module("fc1", conv(channels, reduced, 1, 1, 0, true));
  fc2 = register_module("fc2", conv(reduced, channels, 1, 1, 0, true));
}

torch::Tensor SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  auto s = x.mean({2, 3}, /*keepdim=*/true);
  s = fc2(torch::relu(fc1(s)));
  return x * torch::sigmoid(s);
}

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride, bool down, bool se_on) {
  conv1 = register_module("conv1", conv(in_planes, planes, 3, stride, 1));
  bn1 = register_module("bn1", SyncBatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", SyncBatchNorm2d(planes));
  if (se_on) se = register_module("se", SqueezeExcitation(planes, se_width(planes)));
  if (down) downsample = register_module("downsample", downsample_path(in_planes, planes, stride));
}

// The ReLUs and the residual sums work in place, as torchvision's (ReLU(inplace=True), out += identity):
// the tensors they overwrite are fresh outputs that no backward function keeps, and each saves an
// activation-sized allocation (memory; no change in speed was measurable here).
torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto out = bn1(conv1(x)).relu_();
  out = bn2(conv2(out));
  if (se) out = se(out);
  out += downsample ? downsample->forward(x) : x;
  return out.relu_();
}

BottleneckImpl::BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride, bool down, bool se_on) {
  const int64_t out = planes * kExpansion;
  conv1 = register_module("conv1", conv(in_planes, planes, 1, 1, 0));
  bn1 = register_module("bn1", SyncBatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", SyncBatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, out, 1, 1, 0));
  bn3 = register_module("bn3", SyncBatchNorm2d(out));
  if (se_on) se = register_module("se", SqueezeExcitation(out, se_width(out)));
  if (down) downsample = register_module("downsample", downsample_path(in_planes, out, stride));
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto out = bn1(conv1(x)).relu_();
  out = bn2(conv2(out)).relu_();
  out = bn3(conv3(out));
  if (se) out = se(out);
  out += downsample ? downsample->forward(x) : x;
  return out.relu_();
}

const std::vector<std::string>& ResNetImpl::top_level_names() {
  static const std::vector<std::string> names = {"conv1",  "bn1",    "relu",   "maxpool", "layer1",
                                                 "layer2", "layer3", "layer4", "avgpool", "fc"};
  return names;
}

ResNetImpl::ResNetImpl(const ModelOptions& options, bool torchvision_init) : options_(options) {
  options_.validate();
  const ArchSpec& spec = spec_of(options_.arch);
  const int64_t expansion = spec.bottleneck ? BottleneckImpl::kExpansion : BasicBlockImpl::kExpansion;
  conv1 = register_module("conv1", conv(options_.input_channels, 64, 7, 2, 3));
  bn1 = register_module("bn1", SyncBatchNorm2d(64));
  // Stateless, registered so that the children are torchvision's ten (freezing counts them).
  register_module("relu", nn::ReLU(nn::ReLUOptions().inplace(true)));
  register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  int64_t in_planes = 64;
  nn::Sequential* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int l = 0; l < 4; ++l) {
    const int64_t planes = 64 << l, stride = l == 0 ? 1 : 2;
    nn::Sequential seq;
    for (int b = 0; b < spec.blocks[l]; ++b) {
      const int64_t s = b == 0 ? stride : 1;
      const bool down = b == 0 && (stride != 1 || in_planes != planes * expansion);
      if (spec.bottleneck) seq->push_back(Bottleneck(in_planes, planes, s, down, spec.se));
      else seq->push_back(BasicBlock(in_planes, planes, s, down, spec.se));
      in_planes = planes * expansion;
    }
    *layers[l] = register_module("layer" + std::to_string(l + 1), seq);
  }
  register_module("avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({1, 1})));
  dropout = register_module("dropout", nn::Dropout(options_.dropout));
  fc = register_module("fc", nn::Linear(512 * expansion, options_.num_classes));

  // torchvision's (and timm's) initialisation; Linear keeps LibTorch's default, which is PyTorch's.
  if (!torchvision_init) return;
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<SyncBatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

torch::Tensor ResNetImpl::features(torch::Tensor x) {
  if (x.dim() != 4 || x.size(1) != options_.input_channels)
    throw Error("model input", "expected [batch, " + std::to_string(options_.input_channels) +
                                   ", height, width], got " + c10::str(x.sizes()));
  x = stem(std::move(x));
  for (int i = 0; i < 4; ++i) x = stage(i, std::move(x));
  return x;
}

torch::Tensor ResNetImpl::stem(torch::Tensor x) { return torch::max_pool2d(bn1(conv1(x)).relu_(), 3, 2, 1); }

torch::Tensor ResNetImpl::stage(int i, torch::Tensor x) {
  switch (i) {
    case 0: return layer1->forward(x);
    case 1: return layer2->forward(x);
    case 2: return layer3->forward(x);
    case 3: return layer4->forward(x);
  }
  throw Error("model", "no stage " + std::to_string(i) + " (layer1 .. layer4 are stages 0 .. 3)");
}

torch::Tensor ResNetImpl::head(const torch::Tensor& a) { return fc(dropout(torch::adaptive_avg_pool2d(a, {1, 1}).flatten(1))); }

torch::Tensor ResNetImpl::forward(torch::Tensor x) { return head(features(std::move(x))); }

ResNet make_model(const ModelOptions& options) { return ResNet(options); }

torch::Tensor stack_spectrograms(std::span<const Spectrogram> inputs, int channels) {
  if (inputs.empty()) throw Error("model input", "no spectrograms");
  const Spectrogram& first = inputs.front();
  torch::Tensor x = torch::empty({static_cast<int64_t>(inputs.size()), 1, first.n_mels, first.n_frames});
  for (size_t b = 0; b < inputs.size(); ++b) {
    if (inputs[b].n_mels != first.n_mels || inputs[b].n_frames != first.n_frames)
      throw Error("model input", "spectrograms of different shapes in one batch");
    std::memcpy(x[static_cast<int64_t>(b)].data_ptr<float>(), inputs[b].data.data(), inputs[b].data.size() * sizeof(float));
  }
  return channels == 3 ? x.repeat({1, 3, 1, 1}) : x;
}

namespace {

// A 4-D tensor in channels_last layout with channels_last strides, also where that layout is the default
// one (1x1 kernels): contiguous(ChannelsLast) keeps those as they are, but their gradients come back with
// channels_last strides, and c10d's Reducer wants a parameter's strides to be its gradient's.
torch::Tensor channels_last(const torch::Tensor& t) {
  const auto s = t.sizes();
  torch::Tensor out = torch::empty_strided(s, {s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]}, t.options());
  out.copy_(t);
  return out;
}

}  // namespace

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(channels_last(p.data()));
  for (auto& b : module.buffers())
    if (b.dim() == 4) b.set_data(channels_last(b.data()));
}

}  // namespace genrenet
