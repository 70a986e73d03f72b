// The compute layer: precision names and options, the measured "auto" choice and its cache, the inference
// network (batch norm folded: equal to the model; int8: close to it), int8 calibration in model files.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <thread>

#include <genrenet/classifier.h>
#include <genrenet/compute.h>
#include <genrenet/inference.h>
#include <genrenet/train.h>

#include "common/parallel.h"
#include "compute/torch_warnings.h"
#include "infer/inference.h"
#include "infer/int8_values.h"
#include "small_model.h"
#include "test_util.h"

namespace genrenet {
namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Precision, NamesRoundTripAndBadOnesAreErrors) {
  for (Precision p : {Precision::Fp32, Precision::Fp32ChannelsLast, Precision::Bf16, Precision::Int8})
    EXPECT_EQ(parse_precision(precision_name(p)), p);
  EXPECT_THROW(parse_precision("fp16"), Error);
  EXPECT_THROW(parse_precision("auto"), Error);
  EXPECT_FALSE(uses_channels_last(Precision::Fp32));
  EXPECT_TRUE(uses_channels_last(Precision::Bf16));
}

TEST(ComputeOptions, ValidateNamesTheField) {
  ComputeOptions c;
  EXPECT_NO_THROW(c.validate());
  c.precision = "int8";
  EXPECT_NO_THROW(c.validate());
  try {
    c.validate(/*allow_int8=*/false);
    FAIL() << "int8 accepted for training";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "precision");
  }
  c.precision = "half";
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.device = "tpu";
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.threads = -1;
  EXPECT_THROW(c.validate(), Error);
  EXPECT_EQ(resolve_threads(3), 3);
  EXPECT_GE(resolve_threads(0), 1);
  EXPECT_GE(resolve_threads(0, 1000), 1);
}

TEST(ComputeCache, KeyNamesTheCpuTheLibraryAndTheWorkload) {
  Workload w;
  const std::string k = w.key();
  EXPECT_NE(k.find(cpu_model_name()), std::string::npos) << k;
  EXPECT_NE(k.find(libtorch_version()), std::string::npos) << k;
  Workload other = w;
  other.batch = 8;
  EXPECT_NE(other.key(), k);
  other = w;
  other.kind = "training";
  EXPECT_NE(other.key(), k);
}

TEST(ComputeCache, AutoMeasuresOnceThenUsesTheCache) {
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", dir.path().string());
  ScopedEnv tune("GENRENET_TUNE", "1");
  const std::vector<Precision> candidates = {Precision::Fp32, Precision::Fp32ChannelsLast, Precision::Bf16};
  int calls = 0;
  auto timer = [&](Precision p, double) {
    ++calls;
    if (p == Precision::Fp32ChannelsLast) throw Error("fp32-cl", "not on this machine");  // a failing candidate
    return CandidateSpeed{p == Precision::Bf16 ? 30.0 : 10.0};
  };
  Workload w;
  w.detail = "test";
  PrecisionChoice c = choose_precision("auto", w, candidates, timer);
  EXPECT_EQ(c.precision, Precision::Bf16);
  EXPECT_TRUE(c.measured);
  EXPECT_EQ(calls, 3);
  ASSERT_EQ(c.timings.size(), 3u);
  EXPECT_FALSE(c.timings[1].error.empty());
  EXPECT_TRUE(std::filesystem::exists(dir / "compute-choices.json"));
  // Cached: no timing at all.
  c = choose_precision("auto", w, candidates, timer);
  EXPECT_EQ(c.precision, Precision::Bf16);
  EXPECT_TRUE(c.from_cache);
  EXPECT_EQ(calls, 3);
  // An explicit precision always wins, untimed.
  EXPECT_EQ(choose_precision("fp32", w, candidates, timer).precision, Precision::Fp32);
  EXPECT_EQ(calls, 3);
  // Another workload is measured afresh; force_measure measures again.
  Workload w2 = w;
  w2.threads = 7;
  choose_precision("auto", w2, candidates, timer);
  EXPECT_EQ(calls, 6);
  choose_precision("auto", w, candidates, timer, /*force_measure=*/true);
  EXPECT_EQ(calls, 9);
  // A damaged cache file is measured over, not trusted.
  test::write_bytes(dir / "compute-choices.json", "{not json");
  c = choose_precision("auto", w, candidates, timer);
  EXPECT_TRUE(c.measured);
  EXPECT_EQ(calls, 12);
}

TEST(ComputeCache, AHopelessCandidateCostsOneStep) {
  // The leader does 16 clips in 10 ms. A candidate taking 0.4 s a clip fails the two-clip probe (0.8 s, past
  // 4 x 1.25 ms + 0.5 s) and runs nothing more; one taking 0.1 s a clip passes the probe (0.2 s) and fails the
  // warm-up batch (1.6 s, past 4 x 10 ms + 0.5 s); one as fast as the leader gets its probe, its warm-up
  // and at least two timed batches.
  std::vector<int> clips_run;
  auto candidate = [&](double seconds_per_clip) {
    return [&clips_run, seconds_per_clip](int clips) {
      clips_run.push_back(clips);
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds_per_clip * clips));
    };
  };
  const CandidateSpeed hopeless = time_candidate_steps(candidate(0.4), 16, /*leader_clips_per_second=*/1600.0);
  EXPECT_EQ(clips_run, std::vector<int>{2});
  EXPECT_TRUE(hopeless.cut_short);
  EXPECT_NEAR(hopeless.clips_per_second, 2.5, 0.4);
  clips_run.clear();
  const CandidateSpeed slow = time_candidate_steps(candidate(0.1), 16, 1600.0);
  EXPECT_EQ(clips_run, (std::vector<int>{2, 16}));
  EXPECT_TRUE(slow.cut_short);
  EXPECT_NEAR(slow.clips_per_second, 10.0, 1.5);
  clips_run.clear();
  const CandidateSpeed fast = time_candidate_steps(candidate(0.0006), 16, 1600.0);
  ASSERT_GE(clips_run.size(), 4u);
  EXPECT_EQ(clips_run[0], 2);
  EXPECT_EQ(clips_run[1], 16);
  EXPECT_FALSE(fast.cut_short);
  EXPECT_GT(fast.clips_per_second, 500.0);
  // Without a leader (the first candidate) there is no probe and no cut.
  clips_run.clear();
  EXPECT_FALSE(time_candidate_steps(candidate(0.01), 16, 0).cut_short);
  EXPECT_GE(clips_run.size(), 3u);
  EXPECT_EQ(clips_run[0], 16);
  // choose_precision hands each timer the best speed so far and keeps the cut-short mark.
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", dir.path().string());
  ScopedEnv tune("GENRENET_TUNE", "1");
  std::vector<double> leaders;
  const PrecisionChoice c = choose_precision(
      "auto", Workload{}, {Precision::Fp32, Precision::Fp32ChannelsLast, Precision::Bf16}, [&](Precision p, double leader) {
        leaders.push_back(leader);
        if (p == Precision::Bf16) return CandidateSpeed{0.5, true};
        return CandidateSpeed{p == Precision::Fp32 ? 20.0 : 25.0};
      });
  EXPECT_EQ(leaders, (std::vector<double>{0.0, 20.0, 25.0}));
  EXPECT_EQ(c.precision, Precision::Fp32ChannelsLast);
  ASSERT_EQ(c.timings.size(), 3u);
  EXPECT_TRUE(c.timings[2].cut_short);
}

// Two leaders within 10% are timed again, the later one first, each keeping its faster speed: a slow spell of
// the machine during one candidate's timing must not decide.
TEST(ComputeCache, ACloseCallIsTimedAgainInTheOtherOrder) {
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", dir.path().string());
  ScopedEnv tune("GENRENET_TUNE", "1");
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> speeds = {
      {"fp32", {17.3, 16.0}}, {"fp32-cl", {17.3, 24.0}}, {"bf16", {5.0}}};
  const PrecisionChoice c = choose_precision(
      "auto", Workload{}, {Precision::Fp32, Precision::Fp32ChannelsLast, Precision::Bf16}, [&](Precision p, double) {
        const std::string name = precision_name(p);
        order.push_back(name);
        const double v = speeds[name].front();
        speeds[name].erase(speeds[name].begin());
        return CandidateSpeed{v};
      });
  EXPECT_EQ(order, (std::vector<std::string>{"fp32", "fp32-cl", "bf16", "fp32-cl", "fp32"}));
  EXPECT_EQ(c.precision, Precision::Fp32ChannelsLast);
  ASSERT_EQ(c.timings.size(), 3u);
  EXPECT_DOUBLE_EQ(c.timings[0].clips_per_second, 17.3);  // the faster of its two
  EXPECT_DOUBLE_EQ(c.timings[1].clips_per_second, 24.0);
}

TEST(ComputeCache, TuneOffMeansFp32WithoutMeasuring) {
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", dir.path().string());
  ScopedEnv tune("GENRENET_TUNE", "0");
  int calls = 0;
  PrecisionChoice c = choose_precision("auto", Workload{}, {Precision::Fp32, Precision::Bf16}, [&](Precision, double) {
    ++calls;
    return CandidateSpeed{1.0};
  });
  EXPECT_EQ(c.precision, Precision::Fp32);
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "compute-choices.json"));
}

// A model whose batch norms hold non-trivial statistics and affine parameters, as a trained one does.
ResNet model_with_statistics(const std::string& arch, int channels = 3) {
  torch::manual_seed(11);
  ModelOptions o;
  o.arch = arch;
  o.num_classes = 7;
  o.input_channels = channels;
  ResNet m = make_model(o);
  torch::NoGradGuard no_grad;
  for (auto& mod : m->modules(false))
    if (auto* bn = mod->as<SyncBatchNorm2d>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
      bn->running_mean.uniform_(-0.3, 0.3);
      bn->running_var.uniform_(0.5, 2.0);
    }
  m->eval();
  return m;
}

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

TEST(InferenceNet, FoldedBatchNormEqualsTheModel) {
  for (const char* arch : {"resnet18", "resnet50", "seresnet50"}) {
    ResNet m = model_with_statistics(arch);
    torch::manual_seed(5);
    const torch::Tensor x = torch::randn({2, 3, 64, 96});
    torch::Tensor expected;
    {
      torch::NoGradGuard ng;
      expected = m->forward(x);
    }
    InferenceNet net(m);
    for (Precision p : {Precision::Fp32, Precision::Fp32ChannelsLast}) {
      net.set_precision(p);
      const double d = relative_difference(net.forward(x), expected);
      std::printf("[ folded   ] %s %s: max |difference| / max |logit| = %.2e\n", arch, precision_name(p).c_str(), d);
      EXPECT_LT(d, 1e-5) << arch << " " << precision_name(p);
    }
    net.set_precision(Precision::Bf16);
    EXPECT_LT(relative_difference(net.forward(x), expected), 0.1) << arch;
    // The spectrogram once, as the Classifier gives it (channels_last: the stem in space-to-depth form), also
    // of odd height and width.
    for (auto [height, width] : {std::pair<int64_t, int64_t>{64, 96}, {63, 95}}) {
      const torch::Tensor mono = torch::randn({2, 1, height, width});
      torch::Tensor mono_expected;
      {
        torch::NoGradGuard ng;
        mono_expected = m->forward(mono.expand({2, 3, height, width}).contiguous());
      }
      for (Precision p : {Precision::Fp32, Precision::Fp32ChannelsLast}) {
        net.set_precision(p);
        EXPECT_LT(relative_difference(net.forward(mono), mono_expected), 1e-5) << arch << " " << precision_name(p) << " "
                                                                                << height << "x" << width;
      }
      net.set_precision(Precision::Bf16);
      EXPECT_LT(relative_difference(net.forward(mono), mono_expected), 0.1) << arch;
    }
  }
}

TEST(InferenceNet, OneChannelModelsAndBadInput) {
  ResNet m = model_with_statistics("resnet18", 1);
  InferenceNet net(m);
  const torch::Tensor x = torch::randn({1, 1, 32, 64});
  torch::NoGradGuard ng;
  EXPECT_LT(relative_difference(net.forward(x), m->forward(x)), 1e-5);
  EXPECT_THROW(net.forward(torch::randn({1, 3, 32, 64})), Error);
  EXPECT_THROW(net.forward(torch::randn({32, 64})), Error);
}

TEST(InferenceNet, Int8IsCloseToFp32) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  for (const char* arch : {"resnet18", "seresnet50"}) {
    ResNet m = model_with_statistics(arch);
    InferenceNet net(m);
    torch::manual_seed(6);
    // Calibrated on some inputs, judged on others of the same kind.
    Int8Calibration cal;
    for (int i = 0; i < 4; ++i) net.observe(torch::randn({4, 3, 64, 96}), cal);
    EXPECT_EQ(cal.clips, 16);
    EXPECT_TRUE(cal.ranges.count("input") && cal.ranges.count("conv1") && cal.ranges.count("layer1.0"));
    const torch::Tensor x = torch::randn({8, 3, 64, 96});
    net.set_precision(Precision::Fp32);
    const torch::Tensor expected = net.forward(x);
    net.set_precision(Precision::Int8, &cal);
    const torch::Tensor got = net.forward(x);
    const double d = relative_difference(got, expected);
    const double cosine = torch::cosine_similarity(got.flatten(), expected.flatten(), 0).item<double>();
    std::printf("[ int8     ] %s on %s: max |difference| / max |logit| = %.3f, cosine %.4f\n", arch,
                quantized_engines().front().c_str(), d, cosine);
    EXPECT_LT(d, 0.15) << arch;
    EXPECT_GT(cosine, 0.99) << arch;
    // The spectrogram once (as the Classifier gives it): the stem in space-to-depth form.
    const torch::Tensor mono = x.narrow(1, 0, 1).contiguous();
    net.set_precision(Precision::Fp32);
    const torch::Tensor mono_expected = net.forward(mono);
    net.set_precision(Precision::Int8, &cal);
    const torch::Tensor mono_got = net.forward(mono);
    EXPECT_LT(relative_difference(mono_got, mono_expected), 0.15) << arch;
    EXPECT_GT(torch::cosine_similarity(mono_got.flatten(), mono_expected.flatten(), 0).item<double>(), 0.99) << arch;
    // Back to float works, and int8 is refused without a calibration.
    net.set_precision(Precision::Fp32);
    EXPECT_LT(relative_difference(net.forward(x), expected), 1e-6);
    EXPECT_THROW(net.set_precision(Precision::Int8), Error);
    Int8Calibration partial = cal;
    partial.ranges.erase("layer2.0");
    EXPECT_THROW(net.set_precision(Precision::Int8, &partial), Error);
  }
}

// The worker pool (OpenMP's threads): every index exactly once, for any count of items and threads, with
// LibTorch's own parallel operators inside the work (which then run on the calling thread).
TEST(ParallelFor, EveryIndexOnceOnAnyThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{100}}) {
      std::vector<std::atomic<int>> seen(n);
      parallel_for(n, threads, [&](size_t i) { ++seen[i]; });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << i << " of " << n << " on " << threads << " threads";
    }
  }
  std::vector<double> sums(6);
  const torch::Tensor x = torch::arange(1 << 16, torch::kDouble);
  parallel_for(sums.size(), 2, [&](size_t i) { sums[i] = (x * static_cast<double>(i)).sum().item<double>(); });
  for (size_t i = 0; i < sums.size(); ++i) EXPECT_EQ(sums[i], static_cast<double>(i) * 65535.0 * 65536.0 / 2);
}

// The vectorised quantisation gives PyTorch's integers: values at and beside every rounding tie, far out
// of range both ways, a zero point off the middle, channels_last 4-D tensors and per-channel weights.
TEST(Int8Values, SameIntegersAsPyTorch) {
  torch::manual_seed(11);
  const double scale = 0.0473;
  const float inv = 1.0f / static_cast<float>(scale);
  // Ties: (k + 0.5) / inv, and the floats on either side of them.
  std::vector<float> edge;
  for (int k = -140; k < 140; ++k) {
    const float tie = (static_cast<float>(k) + 0.5f) / inv;
    edge.insert(edge.end(), {tie, std::nextafter(tie, -1e9f), std::nextafter(tie, 1e9f)});
  }
  // Far out of range, but not so far that PyTorch's conversion of the scaled value to an integer overflows
  // (int64 on Debian's build, int32 in FBGEMM's: 1e15 gives 0 there, not 255; the saturation is checked on
  // its own below).
  edge.insert(edge.end(), {0.0f, -0.0f, 1e6f, -1e6f, 1e-30f});
  const torch::Tensor flat = torch::cat({torch::tensor(edge), torch::randn({4096}) * 6});
  for (int64_t zero_point : {0, 3, 128, 200, 255}) {
    const torch::Tensor expected = torch::quantize_per_tensor(flat, scale, zero_point, torch::kQUInt8);
    const torch::Tensor got = quantize_activation(flat, scale, zero_point);
    EXPECT_TRUE(torch::equal(got.int_repr(), expected.int_repr())) << "zero point " << zero_point;
    EXPECT_EQ(got.q_scale(), scale);
    EXPECT_EQ(got.q_zero_point(), zero_point);
  }
  const torch::Tensor huge = quantize_activation(torch::tensor({3e38f, -3e38f, 1e30f, -1e30f}), scale, 7).int_repr();
  EXPECT_TRUE(torch::equal(huge, torch::tensor({255, 0, 255, 0}, torch::kUInt8)));
  for (int64_t channels : {1, 3}) {
    const torch::Tensor x = torch::randn({2, channels, 9, 13}) * 3;
    const torch::Tensor expected =
        torch::quantize_per_tensor(x.contiguous(torch::MemoryFormat::ChannelsLast), 0.02, 117, torch::kQUInt8);
    const torch::Tensor got = quantize_activation(x, 0.02, 117);
    EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(torch::equal(got.int_repr(), expected.int_repr())) << channels << " channels";
  }
  // Weights: PyTorch's per-channel symmetric quantisation of the same scales (one all-zero channel).
  torch::Tensor w = torch::randn({16, 8, 3, 3}) * 0.1;
  w[5].zero_();
  w[7][0][1][1] = 0.75;  // one large weight sets its channel's scale
  const torch::Tensor max_abs = w.abs().amax({1, 2, 3}).clamp_min(1e-12);
  const torch::Tensor scales = (max_abs / 127.0).to(torch::kDouble);
  const torch::Tensor expected =
      torch::quantize_per_channel(w, scales, torch::zeros({16}, torch::kLong), 0, torch::kQInt8);
  const torch::Tensor got = quantize_weight_per_channel(w);
  EXPECT_TRUE(torch::equal(got.q_per_channel_scales(), scales));
  EXPECT_TRUE(torch::equal(got.q_per_channel_zero_points(), torch::zeros({16}, torch::kLong)));
  EXPECT_EQ(got.q_per_channel_axis(), 0);
  EXPECT_TRUE(torch::equal(got.int_repr(), expected.int_repr()));
}

// Dequantisation: LibTorch's values, in the tensor's own layout.
TEST(Int8Values, DequantisedAsLibTorchDoes) {
  torch::manual_seed(13);
  for (int64_t zero_point : {0, 77, 255}) {
    const torch::Tensor x = torch::randn({3, 5, 4, 7}) * 4;
    for (bool channels_last : {false, true}) {
      const torch::Tensor q = quantize_activation(channels_last ? x : x.contiguous(), 0.0371, zero_point);
      const torch::Tensor plain = channels_last ? q : torch::quantize_per_tensor(x, 0.0371, zero_point, torch::kQUInt8);
      const torch::Tensor got = dequantize_activation(plain);
      const torch::Tensor expected = plain.dequantize();
      EXPECT_EQ(got.is_contiguous(torch::MemoryFormat::ChannelsLast), channels_last);
      EXPECT_TRUE(torch::equal(got, expected)) << zero_point << (channels_last ? ", channels_last" : "");
    }
  }
}

// One of LibTorch's quantized operators, called as the inference network calls them (boxed).
c10::IValue call_quantized(const char* name, const char* overload, std::vector<c10::IValue> stack) {
  const auto op = c10::Dispatcher::singleton().findSchema({name, overload});
  EXPECT_TRUE(op.has_value()) << name;
  op->callBoxed(&stack);
  return stack.at(0);
}

// The stem's space-to-depth form: the layout (each 2x2 block's pixels as four channels, the zero point
// around them and past an odd height or width), and the same integers out of the convolution as the 7x7
// stride-2 stem on the plain input, on every quantized engine of this LibTorch.
TEST(Int8Values, SpaceToDepthStemGivesTheSameIntegers) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  torch::manual_seed(12);
  const double scale = 0.031;
  const int64_t zero_point = 121;
  const torch::Tensor weight = torch::randn({8, 1, 7, 7}) * 0.2;
  const torch::Tensor bias = torch::randn({8}) * 0.1;
  const torch::Tensor blocks_weight = space_to_depth_stem_weight(weight);
  ASSERT_EQ(blocks_weight.sizes(), (std::vector<int64_t>{8, 4, 4, 4}));
  const at::QEngine engine_before = at::globalContext().qEngine();
  for (auto [height, width] : {std::pair<int64_t, int64_t>{10, 14}, {9, 13}, {1, 2}}) {
    const torch::Tensor x = torch::randn({2, 1, height, width}) * 2;
    const torch::Tensor blocks = quantize_space_to_depth(x, scale, zero_point);
    EXPECT_TRUE(blocks.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_EQ(blocks.q_scale(), scale);
    EXPECT_EQ(blocks.q_zero_point(), zero_point);
    // The layout from LibTorch's own operations: pad to whole blocks and by the stem's border with `border`,
    // split into the 2x2 phases.
    const int64_t hs = (height + 1) / 2, ws = (width + 1) / 2;
    auto expected_blocks = [&](const torch::Tensor& image, double border) {
      torch::Tensor padded = torch::full({2, 1, 2 * hs + 6, 2 * ws + 6}, border, image.options());
      padded.narrow(2, 4, height).narrow(3, 4, width).copy_(image);
      return padded.view({2, hs + 3, 2, ws + 3, 2}).permute({0, 2, 4, 1, 3}).reshape({2, 4, hs + 3, ws + 3});
    };
    const torch::Tensor plain = quantize_activation(x, scale, zero_point).int_repr().to(torch::kLong).contiguous();
    EXPECT_TRUE(torch::equal(blocks.int_repr().to(torch::kLong), expected_blocks(plain, static_cast<double>(zero_point))))
        << height << "x" << width;
    // The float layout: the same arrangement of x itself, with 0 around it.
    const torch::Tensor float_blocks = space_to_depth(x);
    EXPECT_TRUE(float_blocks.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(torch::equal(float_blocks, expected_blocks(x, 0.0))) << height << "x" << width;
    for (at::QEngine engine : at::globalContext().supportedQEngines()) {
      if (engine == at::QEngine::NoQEngine) continue;
      at::globalContext().setQEngine(engine);
      const std::string engine_name = c10::toString(engine);
      auto conv = [&](const torch::Tensor& q, const torch::Tensor& w, int64_t stride, int64_t padding) {
        const c10::IValue packed = call_quantized(
            "quantized::conv2d_prepack", "",
            {quantize_weight_per_channel(w), c10::optional<torch::Tensor>(bias), c10::List<int64_t>({stride, stride}),
             c10::List<int64_t>({padding, padding}), c10::List<int64_t>({1, 1}), int64_t{1}});
        return call_quantized("quantized::conv2d_relu", "new", {q, packed, 0.02, int64_t{3}}).toTensor().int_repr();
      };
      const torch::Tensor direct = conv(quantize_activation(x, scale, zero_point), weight, 2, 3);
      const torch::Tensor via_blocks = conv(blocks, blocks_weight, 1, 0);
      EXPECT_EQ(via_blocks.sizes(), direct.sizes()) << engine_name;
      EXPECT_TRUE(torch::equal(via_blocks.contiguous(), direct.contiguous())) << engine_name << ", " << height << "x" << width;
    }
  }
  at::globalContext().setQEngine(engine_before);
}

// The max-pool after the stem (3x3, stride 2, padding 1) on uint8 images: LibTorch's quantized max_pool2d's
// values, for even and odd sizes, one pixel, and channel counts of a whole, a part and several vectors.
TEST(Int8Values, MaxPoolGivesLibTorchsValues) {
  torch::manual_seed(13);
  for (auto [height, width] : {std::pair<int64_t, int64_t>{64, 512}, {9, 13}, {10, 14}, {1, 1}, {2, 3}})
    for (int64_t channels : {64, 3, 1, 130}) {
      const torch::Tensor values = torch::randint(0, 256, {2, channels, height, width}).to(torch::kUInt8);
      const torch::Tensor q =
          at::_make_per_tensor_quantized_tensor(values, 0.05, 7).contiguous(torch::MemoryFormat::ChannelsLast);
      const torch::Tensor expected = torch::max_pool2d(q, {3, 3}, {2, 2}, {1, 1}, {1, 1}).int_repr().contiguous();
      torch::Tensor got = torch::empty({2, pooled_size(height), pooled_size(width), channels}, torch::kUInt8);
      for (int64_t i = 0; i < 2; ++i)
        max_pool_3x3_stride2(reinterpret_cast<const std::uint8_t*>(q.data_ptr()) + i * channels * height * width, height,
                             width, channels, got[i].data_ptr<std::uint8_t>());
      EXPECT_TRUE(torch::equal(got.permute({0, 3, 1, 2}), expected)) << height << "x" << width << "x" << channels;
    }
}

// m's inference network in int8, calibrated on `clips`.
InferenceNet int8_network(ResNet& m, const torch::Tensor& clips) {
  InferenceNet net(m);
  Int8Calibration cal;
  net.observe(clips, cal);
  net.set_precision(Precision::Int8, &cal);
  return net;
}

// The int8 network pools each clip's stem into the batch's tensor: every clip of a batch gives what it gives
// alone (integer sums; a clip in another's place would be far off).
TEST(InferenceNet, Int8BatchGivesEachClipsOwnOutput) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  ResNet m = model_with_statistics("resnet18");
  torch::manual_seed(14);
  const torch::Tensor x = torch::randn({3, 1, 33, 65});
  const InferenceNet net = int8_network(m, x);
  const torch::Tensor batch = net.trunk(x, 4);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_LT(relative_difference(batch.narrow(0, i, 1), net.trunk(x.narrow(0, i, 1), 4)), 1e-3) << i;
}

// LibTorch's warnings on this thread become log lines while a LibTorchWarningsToLog lives (LibTorch 2.x's
// notice that quantized tensors are deprecated is dropped), and go back to the handler before it after.
TEST(LibTorchWarnings, GoToTheLogWhileTheGuardLives) {
  std::vector<std::pair<LogLevel, std::string>> logged;
  const LogCallback before = set_log_callback([&](LogLevel level, const std::string& m) { logged.emplace_back(level, m); });
  struct Counting : torch_compat::WarningHandlerBase {
    std::vector<std::string> seen;
    void warn(const std::string& message) override { seen.push_back(message); }
  } outer;
  {
    torch_compat::WarningHandlerGuard outer_guard(&outer);
    {
      LibTorchWarningsToLog warnings;
      TORCH_WARN("an unusual tensor");
      TORCH_WARN("torch.quantize_per_tensor, torch.quantize_per_channel and other quantized tensor creation functions "
                 "that produce tensors with dtype torch.quint8 are deprecated");
    }
    TORCH_WARN("after the guard");
  }
  set_log_callback(before);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].first, LogLevel::Warning);
  EXPECT_EQ(logged[0].second, "LibTorch: an unusual tensor");
  ASSERT_EQ(outer.seen.size(), 1u);
  EXPECT_EQ(outer.seen[0], "after the guard");
}

TEST(InferenceNet, Int8IsSafeFromSeveralThreads) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  ResNet m = model_with_statistics("resnet18");
  torch::manual_seed(8);
  const InferenceNet net = int8_network(m, torch::randn({4, 3, 32, 64}));
  const torch::Tensor x = torch::randn({2, 3, 32, 64});
  const torch::Tensor serial = net.forward(x);
  std::vector<torch::Tensor> out(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { out[t] = net.forward(x); });
  for (auto& t : threads) t.join();
  for (auto& o : out) EXPECT_TRUE(torch::equal(o, serial));
}

// Each int8 engine of this LibTorch runs the network close to fp32; the residual sum inside the convolution
// (onednn-fused, LibTorch 2.x) is close to the separate sum, and not equal to it (one rounding less), which
// says it ran. SE-ResNet-50's blocks gate between the convolution and the sum, so they sum apart.
TEST(InferenceNet, EveryInt8EngineIsCloseToFp32) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  const std::vector<std::string> engines = int8_engines();
#if TORCH_VERSION_MAJOR >= 2
  EXPECT_NE(std::find(engines.begin(), engines.end(), "onednn-fused"), engines.end());
#endif
  for (const std::string arch : {"resnet18", "seresnet50"}) {
    ResNet m = model_with_statistics(arch);
    torch::manual_seed(9);
    const torch::Tensor calibration = torch::randn({8, 1, 64, 96}), x = torch::randn({4, 1, 64, 96});
    const torch::Tensor expected = InferenceNet(m).forward(x);
    std::map<std::string, torch::Tensor> got;
    for (const std::string& engine : engines) {
      ScopedEnv given("GENRENET_INT8_ENGINE", engine);
      measure_int8_engine_again();
      got[engine] = int8_network(m, calibration).forward(x);
      EXPECT_LT(relative_difference(got[engine], expected), 0.15) << arch << " " << engine;
      EXPECT_GT(torch::cosine_similarity(got[engine].flatten(), expected.flatten(), 0).item<double>(), 0.99)
          << arch << " " << engine;
    }
    if (got.count("onednn-fused")) {
      const torch::Tensor& separate = got.at(engines.front());
      EXPECT_LT(relative_difference(got.at("onednn-fused"), separate), 0.05) << arch;
      if (arch == "resnet18") EXPECT_FALSE(torch::equal(got.at("onednn-fused"), separate));
    }
  }
  measure_int8_engine_again();
}

TEST(InferenceNet, AnUnknownInt8EngineIsRefusedByName) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  ResNet m = model_with_statistics("resnet18");
  {
    ScopedEnv given("GENRENET_INT8_ENGINE", "abacus");
    measure_int8_engine_again();
    try {
      int8_network(m, torch::randn({2, 1, 32, 64}));
      ADD_FAILURE() << "an unknown engine was taken";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("GENRENET_INT8_ENGINE"), std::string::npos) << message;
      EXPECT_NE(message.find("\"abacus\""), std::string::npos) << message;
      EXPECT_NE(message.find(int8_engines().front()), std::string::npos) << message;
    }
  }
  measure_int8_engine_again();
}

// Where LibTorch offers more than one int8 engine, the first int8 network times them and keeps the speeds and
// the choice in the cache of measurements; with one, nothing is measured.
TEST(ComputeCache, TheInt8EngineIsMeasuredWhereThereIsAChoice) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", dir.path().string());
  ScopedEnv tune("GENRENET_TUNE", "1");
  ScopedEnv given("GENRENET_INT8_ENGINE", "");
  measure_int8_engine_again();
  ResNet m = model_with_statistics("resnet18");
  int8_network(m, torch::randn({2, 1, 32, 64}));
  const std::vector<std::string> engines = int8_engines();
  const std::filesystem::path file = dir / "compute-choices.json";
  const std::string text = std::filesystem::exists(file) ? test::read_bytes(file) : "";
  if (engines.size() == 1) {
    EXPECT_EQ(text.find("int8 engine"), std::string::npos) << text;
  } else {
    for (const std::string& key : {"int8 engine | resnet18 3x128x1024 | batch 16", "\"choice\""})
      EXPECT_NE(text.find(key), std::string::npos) << key << "\n" << text;
    for (const std::string& engine : engines) EXPECT_NE(text.find("\"" + engine + "\": "), std::string::npos) << engine;
  }
  measure_int8_engine_again();
}

// The precision's measurement times int8, whose network may measure the int8 engine inside it (LibTorch 2.x):
// a measurement inside a measurement, under the one lock they share (a plain mutex hung here).
TEST(ComputeCache, TheInt8EngineCanBeMeasuredInsideThePrecisionsMeasurement) {
  if (quantized_engines().empty()) GTEST_SKIP() << "this LibTorch has no quantized engine";
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", (dir / "cache").string());
  ScopedEnv tune("GENRENET_TUNE", "1");
  ScopedEnv given("GENRENET_INT8_ENGINE", "");
  TuneOptions o;
  o.model_file = test::make_small_model_file(dir.path()).string();
  o.batch = 2;
  o.threads = 1;
  const TuneResult r = tune_inference_precision(o);  // measures the engine again, inside int8's timing
  bool int8_timed = false;
  for (const CandidateTiming& t : r.choice.timings)
    if (t.precision == Precision::Int8) int8_timed = t.error.empty() && t.clips_per_second > 0;
  EXPECT_TRUE(int8_timed);
  const std::string text = test::read_bytes(dir / "cache" / "compute-choices.json");
  EXPECT_EQ(text.find("int8 engine") != std::string::npos, int8_engines().size() > 1) << text;
  measure_int8_engine_again();
}

// Embeddings' float network chooses between fp32 and fp32-cl: whether the model is calibrated for int8 does not
// change that measurement, so a calibrated and an uncalibrated model of one architecture share it.
TEST(ComputeCache, AFloatNetworkIsMeasuredOnceForCalibratedAndUncalibratedModels) {
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", dir.path().string());
  ScopedEnv tune("GENRENET_TUNE", "1");
  ModelFile mf = read_model_file(test::make_small_model_file(dir.path()));
  ASSERT_TRUE(mf.int8.empty());
  const ComputeOptions compute{"cpu", "auto", 1};
  make_float_inference_net(fold_model_file(mf, false), mf, compute, 2);
  mf.int8.ranges = {{"input", {-3.f, 3.f}}};
  mf.int8.clips = 4;
  make_float_inference_net(fold_model_file(mf, false), mf, compute, 2);
  const std::string text = test::read_bytes(dir / "compute-choices.json");
  size_t keys = 0;
  for (size_t at = text.find("float inference"); at != std::string::npos; at = text.find("float inference", at + 1))
    ++keys;
  EXPECT_EQ(keys, 1u) << text;
  EXPECT_EQ(text.find("int8 calibrated"), std::string::npos) << text;
}

TEST(Int8Calibration, JsonAndModelFilesKeepIt) {
  Int8Calibration c;
  c.ranges = {{"input", {-3.5f, 4.25f}}, {"conv1", {0.0f, 7.0f}}};
  c.clips = 12;
  Int8Calibration back = Int8Calibration::from_json(c.to_json());
  EXPECT_EQ(back.ranges, c.ranges);
  EXPECT_EQ(back.clips, 12);
  EXPECT_THROW(Int8Calibration::from_json("{\"method\":\"minmax\",\"clips\":1,\"ranges\":{\"a\":[2,1]}}"), Error);
  EXPECT_THROW(Int8Calibration::from_json("{\"ranges\":3}"), Error);

  test::TempDir dir;
  ModelFile mf;
  mf.model.num_classes = 2;
  mf.classes = {"a", "b"};
  mf.weights = state_dict(*make_model(mf.model));
  save_model_file(dir / "plain.safetensors", mf);
  EXPECT_TRUE(read_model_file(dir / "plain.safetensors").int8.empty());
  mf.int8 = c;
  save_model_file(dir / "int8.safetensors", mf);
  EXPECT_EQ(read_model_file(dir / "int8.safetensors").int8.ranges, c.ranges);
}

TEST(ComputeCache, MeasuringLeavesTheRandomSequenceAsItWas) {
  // "auto" draws random numbers while it measures; a program's own sequence must not depend on whether it
  // measured or found its choice in the cache.
  test::TempDir dir;
  ScopedEnv cache("GENRENET_CACHE_DIR", (dir / "cache").string());
  ScopedEnv tune("GENRENET_TUNE", "1");
  const auto model = test::make_small_model_file(dir.path());
  torch::manual_seed(42);
  const torch::Tensor expected = torch::rand({8});
  torch::manual_seed(42);
  { Classifier measured(model, ClassifierOptions{.threads = 1}); }  // measures: the cache is empty
  EXPECT_TRUE(torch::equal(torch::rand({8}), expected));
  torch::manual_seed(42);
  { Classifier cached(model, ClassifierOptions{.threads = 1}); }  // finds its choice in the cache
  EXPECT_TRUE(torch::equal(torch::rand({8}), expected));
  TrainConfig config;
  config.data = "(test)";
  config.batch = 2;
  config.features = test::small_features();
  torch::manual_seed(42);
  choose_training_precision(config, ModelOptions{}, 1);
  EXPECT_TRUE(torch::equal(torch::rand({8}), expected));
}

TEST(CliTune, PrintsEveryCandidateAndCachesTheChoice) {
  test::TempDir dir;
  const std::string exe = GENRENET_EXE, model = test::make_small_model_file(dir.path()).string();
  const std::string env = "GENRENET_CACHE_DIR=" + (dir / "cache").string() + " ";
  auto r = test::run(env + exe + " tune --model " + model + " --batch 2 --threads 1");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* p : {"fp32 ", "fp32-cl ", "bf16 ", "int8 ", "<- chosen", "inference | resnet18 3x48x320 | batch 2"})
    EXPECT_NE(r.output.find(p), std::string::npos) << p << "\n" << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "cache" / "compute-choices.json"));
  r = test::run(env + exe + " tune --train --model " + model + " --batch 2 --threads 1 --freeze-children 8");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("training | resnet18"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2/62 parameter tensors trainable"), std::string::npos) << r.output;
  // Training's own candidates exclude int8; the frozen trunk (conv1 .. layer4) is timed too, int8 included.
  const size_t training = r.output.find("training | resnet18"), trunk = r.output.find("the frozen trunk");
  ASSERT_NE(trunk, std::string::npos) << r.output;
  ASSERT_LT(training, trunk) << r.output;
  EXPECT_EQ(r.output.substr(training, trunk - training).find("int8 "), std::string::npos) << r.output;
  for (const char* p : {"frozen trunk | resnet18", "stem + 4 stages", "fp32-cl ", "int8 ", "<- chosen"})
    EXPECT_NE(r.output.find(p, trunk), std::string::npos) << p << "\n" << r.output;
  // Quantize refuses a folder without audio, by name.
  std::filesystem::create_directories(dir / "empty");
  r = test::run(exe + " quantize -m " + model + " --data " + (dir / "empty").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("no audio files"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace genrenet
