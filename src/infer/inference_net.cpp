// The inference network: batch norm folded into the convolutions (eval mode), then fp32, bf16 autocast or
// int8. The int8 path is PyTorch's post-training static quantisation done by hand: per-channel symmetric int8
// weights, per-tensor asymmetric uint8 activations whose ranges come from calibration clips, ReLU fused into
// the convolutions and into the residual sums (quantized::conv2d_relu, quantized::add_relu, or the sum inside
// the block's last convolution: quantized::conv2d_add_relu where the measured engine has it), max-pool on
// uint8, and the global pool, SE gates and fc in float (a few thousand values, where int8 would only lose
// accuracy). The operators are called through the dispatcher, boxed, because their packed-weight types are
// TorchScript classes without a public C++ header.
#include <genrenet/inference.h>

#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include "compute/measured_choice.h"
#include "compute/random_state.h"
#include "compute/torch_warnings.h"
#include "infer/inference.h"
#include "infer/int8_values.h"

namespace genrenet {
namespace {

// A convolution with its batch norm folded in, and what the int8 path needs of it.
struct ConvUnit {
  std::string point;           // the quantisation point of its output
  torch::Tensor weight, bias;  // folded, fp32
  int64_t stride = 1, padding = 0;
  bool relu = false;
  c10::IValue packed;          // the engine's prepacked int8 weight
  double scale = 1;
  int64_t zero_point = 0;
};

struct SqueezeUnit {
  std::string point;  // its output, re-quantised for the residual sum
  torch::Tensor w1, b1, w2, b2;
  double scale = 1;
  int64_t zero_point = 0;
};

struct Block {
  std::string point;  // the block's output (after the residual sum and ReLU)
  int stage = 0;      // 0 .. 3: layer1 .. layer4
  std::vector<ConvUnit> convs;  // conv1, conv2 (, conv3): the last one without ReLU
  std::optional<ConvUnit> downsample;
  std::optional<SqueezeUnit> se;
  double scale = 1;
  int64_t zero_point = 0;
};

torch::Tensor nchw_or_nhwc(const torch::Tensor& t, bool channels_last) {
  return channels_last ? t.contiguous(torch::MemoryFormat::ChannelsLast) : t.contiguous();
}

ConvUnit fold(const std::string& point, const torch::nn::Conv2dImpl& conv, const SyncBatchNorm2dImpl& bn, bool relu) {
  torch::NoGradGuard no_grad;
  const auto& o = conv.options;
  ConvUnit u;
  u.point = point;
  const torch::Tensor scale = bn.weight / torch::sqrt(bn.running_var + bn.eps);
  u.weight = (conv.weight * scale.view({-1, 1, 1, 1})).contiguous();
  torch::Tensor shift = bn.bias - bn.running_mean * scale;
  if (conv.bias.defined()) shift = shift + conv.bias * scale;
  u.bias = shift.contiguous();
  u.stride = o.stride()->at(0);
  // Every convolution of these networks pads by half its (odd, square) kernel: 7x7 by 3, 3x3 by 1, 1x1 by 0.
  u.padding = conv.weight.size(2) / 2;
  u.relu = relu;
  return u;
}

// uint8 scale and zero point for an activation range (which always includes 0, as PyTorch's observers do).
std::pair<double, int64_t> activation_qparams(std::pair<float, float> range) {
  const double lo = std::min(0.0f, range.first), hi = std::max(0.0f, range.second);
  const double scale = hi > lo ? (hi - lo) / 255.0 : 1.0;
  const int64_t zero_point = std::clamp<int64_t>(std::llround(-lo / scale), 0, 255);
  return {scale, zero_point};
}

const c10::OperatorHandle& quantized_op(const char* name, const char* overload) {
  // Looked up once per operator; the handles live as long as the process.
  static std::mutex mutex;
  static std::map<std::string, c10::OperatorHandle> ops;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = std::string(name) + "." + overload;
  auto it = ops.find(key);
  if (it == ops.end()) {
    auto h = c10::Dispatcher::singleton().findSchema({name, overload});
    if (!h) throw Error("int8", std::string("this LibTorch build has no ") + name + " operator");
    it = ops.emplace(key, *h).first;
  }
  return it->second;
}

c10::IValue call_boxed(const c10::OperatorHandle& op, std::vector<c10::IValue> stack) {
  op.callBoxed(&stack);
  return stack.at(0);
}

// The quantized engines this build has, best first for x86, with their lower-case names.
std::vector<std::pair<std::string, at::QEngine>> engines_best_first() {
  std::vector<std::pair<std::string, at::QEngine>> ordered;
  for (const char* best : {"X86", "FBGEMM", "ONEDNN", "QNNPACK"})
    for (at::QEngine e : at::globalContext().supportedQEngines())
      if (c10::toString(e) == std::string(best)) {
        std::string name = best;
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        ordered.emplace_back(name, e);
      }
  return ordered;
}

// How the int8 network runs: LibTorch's quantized engine, and whether each block's residual sum is done inside
// its last convolution. LibTorch 2.x's quantized::conv2d_add_relu (oneDNN's sum post-op) writes the
// convolution's output onto the residual and applies the ReLU there: no separate pass over the block's output
// (at layer1, 16 clips: two 8-MB tensors read and a third written) and one rounding less. It exists only
// under the onednn engine, while genrenet otherwise prefers x86 (FBGEMM's kernels where the CPU lacks VNNI),
// so the two are timed on the first int8 network of the process and the faster kept for the CPU
// (docs/COMPUTE.md).
struct Int8Engine {
  std::string name;  // "x86", "fbgemm", "onednn", "qnnpack"; "onednn-fused" with the sum in the convolution
  at::QEngine engine = at::QEngine::NoQEngine;
  bool fused_residual = false;
};

std::vector<Int8Engine> int8_engine_candidates() {
  const auto engines = engines_best_first();
  if (engines.empty())
    throw Error("int8", "this LibTorch build has no quantized engine (it needs x86, fbgemm, onednn or qnnpack)");
  std::vector<Int8Engine> candidates = {{engines.front().first, engines.front().second, false}};
  if (c10::Dispatcher::singleton().findSchema({"quantized::conv2d_add_relu", ""}))
    for (const auto& [name, engine] : engines)
      if (name == "onednn") candidates.push_back({"onednn-fused", engine, true});
  return candidates;
}

std::vector<std::string> names_of(const std::vector<Int8Engine>& engines) {
  std::vector<std::string> names;
  for (const Int8Engine& e : engines) names.push_back(e.name);
  return names;
}

// The process's int8 engine: chosen once (every int8 network of a process shares LibTorch's global engine),
// then kept; `genrenet tune` asks for a fresh measurement. Guarded by lock_measurements(): the engine may be
// measured inside a precision's measurement, which holds it already.
std::optional<Int8Engine> g_engine;
bool g_measure_engine_again = false;

}  // namespace

std::vector<std::string> int8_engines() {
  return names_of(int8_engine_candidates());
}

void measure_int8_engine_again() {
  const auto lock = lock_measurements();
  g_engine.reset();
  g_measure_engine_again = true;
}

std::vector<std::string> quantized_engines() {
  std::vector<std::string> names;
  for (auto& [name, engine] : engines_best_first()) names.push_back(name);
  return names;
}

struct InferenceNet::Impl {
  ModelOptions options;
  ConvUnit stem;
  // For a model of several input channels that all repeat one spectrogram (genrenet's 3-channel models, as
  // ImageNet weights expect): conv1 with its weights summed over the input channels, which takes the
  // spectrogram once. The same function with a third of conv1's work and of the input's bytes.
  std::optional<ConvUnit> stem_mono;
  // The one-channel stem over the input's 2x2 blocks (infer/int8_values.h: why), for int8 (packed) and for
  // the channels_last float precisions (its weight channels_last).
  std::optional<ConvUnit> stem_blocks, stem_blocks_float;
  std::vector<Block> blocks;
  torch::Tensor fc_weight, fc_bias;
  Precision precision = Precision::Fp32;
  bool fused_residual = false;  // the int8 engine's form (Int8Engine)
  double input_scale = 1;
  int64_t input_zero_point = 0;

  const ConvUnit& stem_for(const torch::Tensor& x) const {
    return x.size(1) == 1 && stem_mono ? *stem_mono : stem;
  }

  // The one-channel stem in space-to-depth form (weight rearranged, stride 1, no padding), where the stem is
  // ResNet's 7x7 of stride 2 and padding 3.
  std::optional<ConvUnit> stem_in_blocks() const {
    const ConvUnit& mono = stem_mono ? *stem_mono : stem;
    if (mono.weight.size(1) != 1 || mono.weight.size(2) != 7 || mono.stride != 2 || mono.padding != 3) return std::nullopt;
    ConvUnit u = mono;
    u.weight = space_to_depth_stem_weight(mono.weight);
    u.stride = 1;
    u.padding = 0;
    return u;
  }

  // ---- float (fp32, fp32 channels_last, bf16 autocast), optionally observing activation ranges ----

  static void see(Int8Calibration* obs, const std::string& point, const torch::Tensor& t) {
    if (!obs) return;
    auto [lo, hi] = torch::aminmax(t.to(torch::kFloat32));
    const float l = lo.item<float>(), h = hi.item<float>();
    auto it = obs->ranges.find(point);
    if (it == obs->ranges.end()) obs->ranges[point] = {l, h};
    else it->second = {std::min(it->second.first, l), std::max(it->second.second, h)};
  }

  static torch::Tensor conv_float(const ConvUnit& u, const torch::Tensor& x, Int8Calibration* obs) {
    torch::Tensor y = torch::conv2d(x, u.weight, u.bias, u.stride, u.padding);
    if (u.relu) y.relu_();
    see(obs, u.point, y);
    return y;
  }

  static torch::Tensor squeeze_float(const SqueezeUnit& se, const torch::Tensor& x) {
    torch::Tensor s = x.mean({2, 3}, /*keepdim=*/true);
    s = torch::conv2d(torch::relu(torch::conv2d(s, se.w1, se.b1)), se.w2, se.b2);
    return x * torch::sigmoid(s);
  }

  // The stem and its max-pool, one clip at a time into the batch's pooled tensor. Over a whole batch the
  // stem's output (16 clips of 128x1024: 33.5 MB in uint8, 67 in bf16, 134 in fp32; four times the pool's)
  // went out to memory and came back for the pool; one clip's is pooled while it is still in cache. The same
  // values (each clip's convolution and pool are those of the batch); on the 2-core Xeon (family 6 model 207),
  // alternating in one process, ResNet-18's trunk of 16 clips: int8 142 -> 128 ms on LibTorch 1.13, 120 -> 98
  // on 2.15; bf16 374 -> 314 ms. Not on a GPU, whose kernels want the whole batch.
  static torch::Tensor stem_pooled_float(const ConvUnit& unit, const torch::Tensor& input, Int8Calibration* obs) {
    torch::Tensor pooled;
    for (int64_t i = 0; i < input.size(0); ++i) {
      const torch::Tensor clip = torch::max_pool2d(conv_float(unit, input.narrow(0, i, 1), obs), 3, 2, 1);
      if (!pooled.defined())
        pooled = torch::empty({input.size(0), clip.size(1), clip.size(2), clip.size(3)}, clip.options(), clip.suggest_memory_format());
      pooled.narrow(0, i, 1).copy_(clip);
    }
    return pooled;
  }

  // The network up to the end of its first `stages` stages (4: all; the last stage's activations).
  torch::Tensor body_float(torch::Tensor x, Int8Calibration* obs, int stages) const {
    see(obs, "input", x);
    const bool in_blocks = x.size(1) == 1 && stem_blocks_float && uses_channels_last(precision) && !x.is_cuda();
    x = x.is_cuda() ? torch::max_pool2d(conv_float(stem_for(x), x, obs), 3, 2, 1)
                    : stem_pooled_float(in_blocks ? *stem_blocks_float : stem_for(x), in_blocks ? space_to_depth(x) : x, obs);
    for (const Block& b : blocks) {
      if (b.stage >= stages) break;
      torch::Tensor out = x;
      for (const ConvUnit& c : b.convs) out = conv_float(c, out, obs);
      if (b.se) {
        out = squeeze_float(*b.se, out);
        see(obs, b.se->point, out);
      }
      out += b.downsample ? conv_float(*b.downsample, x, obs) : x;
      x = out.relu_();
      see(obs, b.point, x);
    }
    return x;
  }

  // ---- int8 ----

  torch::Tensor conv_int8(const ConvUnit& u, const torch::Tensor& q) const {
    static const auto& conv = quantized_op("quantized::conv2d", "new");
    static const auto& conv_relu = quantized_op("quantized::conv2d_relu", "new");
    return call_boxed(u.relu ? conv_relu : conv, {q, u.packed, u.scale, u.zero_point}).toTensor();
  }

  // The stem and its max-pool, one clip at a time into the batch's pooled tensor (stem_pooled_float: why).
  torch::Tensor stem_pooled_int8(const torch::Tensor& x) const {
    const bool in_blocks = x.size(1) == 1 && stem_blocks;
    const ConvUnit& unit = in_blocks ? *stem_blocks : stem_for(x);
    const torch::Tensor q = in_blocks ? quantize_space_to_depth(x, input_scale, input_zero_point)
                                      : quantize_activation(x, input_scale, input_zero_point);
    torch::Tensor pooled;
    for (int64_t i = 0; i < q.size(0); ++i) {
      const torch::Tensor y = conv_int8(unit, q.narrow(0, i, 1)).contiguous(torch::MemoryFormat::ChannelsLast);
      const int64_t channels = y.size(1), height = y.size(2), width = y.size(3);
      if (!pooled.defined())
        pooled = at::_empty_affine_quantized({q.size(0), channels, pooled_size(height), pooled_size(width)}, y.options(),
                                             y.q_scale(), y.q_zero_point(), torch::MemoryFormat::ChannelsLast);
      auto* out = reinterpret_cast<std::uint8_t*>(pooled.data_ptr()) + i * channels * pooled.size(2) * pooled.size(3);
      max_pool_3x3_stride2(reinterpret_cast<const std::uint8_t*>(y.data_ptr()), height, width, channels, out);
    }
    return pooled;
  }

  // The first `stages` stages, dequantised at the end (fp32, channels_last).
  torch::Tensor body_int8(const torch::Tensor& x, int stages) const {
    static const auto& add_relu = quantized_op("quantized::add_relu", "");
    torch::Tensor q = stem_pooled_int8(x);
    for (const Block& b : blocks) {
      if (b.stage >= stages) break;
      torch::Tensor identity = b.downsample ? conv_int8(*b.downsample, q) : q;
      // An SE gate comes between the last convolution and the sum: that block sums apart.
      const bool fuse = fused_residual && !b.se;
      torch::Tensor out = q;
      for (size_t i = 0; i + (fuse ? 1 : 0) < b.convs.size(); ++i) out = conv_int8(b.convs[i], out);
      if (fuse) {
        // The sum is written over `identity` (the block's input or its downsampling, not needed after this).
        static const auto& conv_add_relu = quantized_op("quantized::conv2d_add_relu", "");
        q = call_boxed(conv_add_relu, {out, identity, b.convs.back().packed, b.scale, b.zero_point}).toTensor();
        continue;
      }
      if (b.se)
        out = quantize_activation(squeeze_float(*b.se, dequantize_activation(out)), b.se->scale, b.se->zero_point);
      q = call_boxed(add_relu, {out, identity, b.scale, b.zero_point}).toTensor();
    }
    return dequantize_activation(q);
  }

  // The first `stages` stages in this network's precision, then `then` on their output inside the same
  // scope (bf16: under autocast), as fp32: the one path of forward (then: the head) and trunk (then: nothing).
  template <class Then>
  torch::Tensor run(const torch::Tensor& x, int stages, Then then) const {
    torch::NoGradGuard no_grad;
    switch (precision) {
      case Precision::Int8: {
        LibTorchWarningsToLog warnings;  // LibTorch 2.x's notice at the first quantized tensor
        return then(body_int8(x, stages));
      }
      case Precision::Bf16: {
        Bf16Autocast autocast(true, x.is_cuda());
        return then(body_float(x.contiguous(torch::MemoryFormat::ChannelsLast), nullptr, stages)).to(torch::kFloat32);
      }
      case Precision::Fp32ChannelsLast: return then(body_float(x.contiguous(torch::MemoryFormat::ChannelsLast), nullptr, stages));
      case Precision::Fp32: break;
    }
    return then(body_float(x.contiguous(), nullptr, stages));
  }

  torch::Tensor head(const torch::Tensor& a) const { return torch::linear(a.mean({2, 3}), fc_weight, fc_bias); }

  void prepare_int8(const Int8Calibration& cal) {
    const auto lock = lock_measurements();
    if (!g_engine) g_engine = choose_int8_engine(cal);
    pack_int8(cal, *g_engine);
  }

  // The engine from GENRENET_INT8_ENGINE, else measured on this network (16 random clips of genrenet's input
  // shape) or taken from the cache of measurements.
  Int8Engine choose_int8_engine(const Int8Calibration& cal) {
    const std::vector<Int8Engine> candidates = int8_engine_candidates();
    const std::vector<std::string> names = names_of(candidates);
    auto named = [&](const std::string& name) {
      for (const Int8Engine& e : candidates)
        if (e.name == name) return e;
      std::string list;
      for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
      throw Error("GENRENET_INT8_ENGINE", "must be one of this LibTorch's " + list + "; got \"" + name + "\"");
    };
    const bool force = std::exchange(g_measure_engine_again, false);
    if (const char* given = std::getenv("GENRENET_INT8_ENGINE"); given && *given) return named(given);
    Workload w;
    w.kind = "int8 engine";
    w.arch = options.arch;
    w.input_channels = options.input_channels;
    w.threads = at::get_num_threads();
    ScopedRandomState keep_random_sequence;  // the timed passes' random inputs
    torch::Tensor x;
    const MeasuredChoice choice = choose_by_measurement(
        "int8 engine", w, names, names.front(),
        [&](const std::string& name, double leader) {
          if (!x.defined()) {
            torch::manual_seed(0);
            x = torch::randn({w.batch, 1, w.n_mels, w.frames});
          }
          pack_int8(cal, named(name));
          torch::NoGradGuard no_grad;
          return time_candidate_steps([&](int clips) { body_int8(x.narrow(0, 0, clips), 4); }, w.batch, leader);
        },
        force);
    return named(choice.name);
  }

  void pack_int8(const Int8Calibration& cal, const Int8Engine& engine) {
    at::globalContext().setQEngine(engine.engine);
    fused_residual = engine.fused_residual;
    auto range = [&](const std::string& point) {
      auto it = cal.ranges.find(point);
      if (it == cal.ranges.end())
        throw Error("int8", "the calibration has no range for \"" + point + "\": it was made for another network; run `genrenet quantize` again");
      return activation_qparams(it->second);
    };
    const auto& prepack = quantized_op("quantized::conv2d_prepack", "");
    auto pack = [&](ConvUnit& u) {
      torch::NoGradGuard no_grad;
      const torch::Tensor qw = quantize_weight_per_channel(u.weight);
      const c10::List<int64_t> stride({u.stride, u.stride}), padding({u.padding, u.padding}), dilation({1, 1});
      u.packed = call_boxed(prepack, {qw, c10::optional<torch::Tensor>(u.bias), stride, padding, dilation, int64_t{1}});
      std::tie(u.scale, u.zero_point) = range(u.point);
    };
    std::tie(input_scale, input_zero_point) = range("input");
    for_each_conv(pack);
    stem_blocks = stem_in_blocks();
    if (stem_blocks) pack(*stem_blocks);
    for (Block& b : blocks) {
      if (b.se) std::tie(b.se->scale, b.se->zero_point) = range(b.se->point);
      std::tie(b.scale, b.zero_point) = range(b.point);
    }
  }

  // Every convolution: the stem, then each block's in order, its downsampling one last.
  void for_each_conv(const std::function<void(ConvUnit&)>& fn) {
    fn(stem);
    if (stem_mono) fn(*stem_mono);
    for (Block& b : blocks) {
      for (ConvUnit& c : b.convs) fn(c);
      if (b.downsample) fn(*b.downsample);
    }
  }

  void for_each_tensor(const std::function<void(torch::Tensor&)>& fn) {
    for_each_conv([&](ConvUnit& u) {
      fn(u.weight);
      fn(u.bias);
    });
    for (Block& b : blocks)
      if (b.se)
        for (torch::Tensor* t : {&b.se->w1, &b.se->b1, &b.se->w2, &b.se->b2}) fn(*t);
    fn(fc_weight);
    fn(fc_bias);
  }

  void lay_out_float(bool channels_last) {
    for_each_conv([&](ConvUnit& u) { u.weight = nchw_or_nhwc(u.weight, channels_last); });
    stem_blocks_float = channels_last ? stem_in_blocks() : std::nullopt;
    if (stem_blocks_float) stem_blocks_float->weight = nchw_or_nhwc(stem_blocks_float->weight, true);
  }
};

InferenceNet::InferenceNet(ResNet& model) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = model->options();
  m.stem = fold("conv1", *model->conv1, *model->bn1, true);
  if (m.options.input_channels > 1) {
    torch::NoGradGuard no_grad;
    m.stem_mono = m.stem;
    m.stem_mono->weight = m.stem.weight.sum(1, /*keepdim=*/true).contiguous();
  }
  torch::nn::Sequential layers[4] = {model->layer1, model->layer2, model->layer3, model->layer4};
  for (int l = 0; l < 4; ++l) {
    int index = 0;
    for (const auto& child : layers[l]->children()) {
      const std::string name = "layer" + std::to_string(l + 1) + "." + std::to_string(index++);
      Block b;
      b.point = name;
      b.stage = l;
      std::shared_ptr<SqueezeExcitationImpl> se;
      torch::nn::Sequential down{nullptr};
      if (auto basic = std::dynamic_pointer_cast<BasicBlockImpl>(child)) {
        b.convs.push_back(fold(name + ".conv1", *basic->conv1, *basic->bn1, true));
        b.convs.push_back(fold(name + ".conv2", *basic->conv2, *basic->bn2, false));
        if (basic->se) se = basic->se.ptr();
        down = basic->downsample;
      } else if (auto neck = std::dynamic_pointer_cast<BottleneckImpl>(child)) {
        b.convs.push_back(fold(name + ".conv1", *neck->conv1, *neck->bn1, true));
        b.convs.push_back(fold(name + ".conv2", *neck->conv2, *neck->bn2, true));
        b.convs.push_back(fold(name + ".conv3", *neck->conv3, *neck->bn3, false));
        if (neck->se) se = neck->se.ptr();
        down = neck->downsample;
      } else {
        throw Error("inference network", name + " is neither a basic nor a bottleneck block");
      }
      if (down)
        b.downsample = fold(name + ".downsample", *down->ptr<torch::nn::Conv2dImpl>(0),
                            *down->ptr<SyncBatchNorm2dImpl>(1), false);
      if (se) {
        torch::NoGradGuard no_grad;
        b.se = SqueezeUnit{name + ".se", se->fc1->weight.contiguous(), se->fc1->bias.contiguous(),
                           se->fc2->weight.contiguous(), se->fc2->bias.contiguous()};
      }
      m.blocks.push_back(std::move(b));
    }
  }
  torch::NoGradGuard no_grad;
  m.fc_weight = model->fc->weight.detach().contiguous().clone();
  m.fc_bias = model->fc->bias.detach().contiguous().clone();
}

InferenceNet::~InferenceNet() = default;
InferenceNet::InferenceNet(InferenceNet&&) noexcept = default;
InferenceNet& InferenceNet::operator=(InferenceNet&&) noexcept = default;

const ModelOptions& InferenceNet::options() const { return impl_->options; }
Precision InferenceNet::precision() const { return impl_->precision; }

void InferenceNet::to(torch::Device device) {
  impl_->for_each_tensor([&](torch::Tensor& t) { t = t.to(device); });
}

torch::Device InferenceNet::device() const { return impl_->fc_weight.device(); }

void InferenceNet::set_precision(Precision p, const Int8Calibration* calibration) {
  if (p == Precision::Int8) {
    if (!calibration || calibration->empty())
      throw Error("precision int8", "the model has no int8 calibration: make one with `genrenet quantize --model M --data DIR`");
    LibTorchWarningsToLog warnings;  // the quantized weights: LibTorch 2.x's notice at the first quantized tensor
    impl_->prepare_int8(*calibration);
  } else {
    impl_->lay_out_float(uses_channels_last(p));
  }
  impl_->precision = p;
}

namespace {

void check_input(const torch::Tensor& x, const ModelOptions& o) {
  if (x.dim() != 4 || (x.size(1) != o.input_channels && x.size(1) != 1))
    throw Error("model input", "expected [batch, " + std::to_string(o.input_channels) + " or 1, height, width], got " +
                                   c10::str(x.sizes()));
}

}  // namespace

torch::Tensor InferenceNet::forward(const torch::Tensor& x) const {
  check_input(x, impl_->options);
  return impl_->run(x, 4, [this](const torch::Tensor& a) { return impl_->head(a); });
}

torch::Tensor InferenceNet::trunk(const torch::Tensor& x, int stages) const {
  check_input(x, impl_->options);
  if (stages < 0 || stages > 4) throw Error("inference network", "a trunk has 0 to 4 stages, not " + std::to_string(stages));
  return impl_->run(x, stages, [](const torch::Tensor& a) { return a; });
}

void InferenceNet::observe(const torch::Tensor& x, Int8Calibration& into) const {
  torch::NoGradGuard no_grad;
  impl_->body_float(x.to(torch::kFloat32).contiguous(), &into, 4);
  into.clips += static_cast<int>(x.size(0));
}

}  // namespace genrenet
