// The network stage without a reference: architectures, freezing, formats, model files, weight fetching.
#include <httplib.h>

#include <functional>
#include <limits>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "compute/allocator.h"
#include "test_util.h"

namespace genrenet {
namespace {

int64_t count_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(ResNet, ParameterCountsAreTorchvisionsAndTimms) {
  // torchvision.models.resnet18/34/50() and timm's seresnet50, with 1000 classes and RGB input.
  struct {
    const char* arch;
    int64_t params;
  } cases[] = {{"resnet18", 11689512}, {"resnet34", 21797672}, {"resnet50", 25557032}, {"seresnet50", 28088024}};
  for (auto& c : cases) {
    ModelOptions o;
    o.arch = c.arch;
    o.num_classes = 1000;
    o.input_channels = 3;
    EXPECT_EQ(count_params(*make_model(o)), c.params) << c.arch;
  }
}

TEST(ResNet, NamesFollowTorchvision) {
  auto sd = state_dict(*make_model(ModelOptions{}));
  for (const char* k : {"conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var", "layer4.1.bn2.bias",
                        "fc.weight", "fc.bias"})
    EXPECT_TRUE(sd.count(k)) << k;
  EXPECT_EQ(sd.size(), 122u);
  EXPECT_EQ(sd.at("conv1.weight").sizes(), (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(sd.at("fc.weight").sizes(), (std::vector<int64_t>{10, 512}));
  ModelOptions se;
  se.arch = "seresnet50";
  auto sse = state_dict(*make_model(se));
  EXPECT_EQ(sse.at("layer1.0.se.fc1.weight").sizes(), (std::vector<int64_t>{16, 256, 1, 1}));
  EXPECT_EQ(sse.at("layer4.2.se.fc2.bias").sizes(), (std::vector<int64_t>{2048}));
  EXPECT_EQ(detect_architecture(sse), "seresnet50");
}

TEST(ResNet, ForwardShapesAndBadInput) {
  for (const char* arch : {"resnet18", "seresnet50"}) {
    ModelOptions o;
    o.arch = arch;
    o.dropout = 0.2;
    ResNet m = make_model(o);
    m->eval();
    torch::NoGradGuard ng;
    auto y = m->forward(torch::randn({2, 3, 128, 256}));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 10}));
    EXPECT_THROW(m->forward(torch::randn({2, 1, 128, 256})), Error);
  }
  ModelOptions bad;
  bad.arch = "vgg16";
  EXPECT_THROW(make_model(bad), Error);
  bad = {};
  bad.input_channels = 2;
  EXPECT_THROW(make_model(bad), Error);
}

TEST(ResNet, ChannelsLastAndBf16AutocastAgreeWithFp32) {
  torch::manual_seed(3);
  ResNet m = make_model(ModelOptions{});
  m->eval();
  torch::NoGradGuard ng;
  auto x = torch::randn({2, 3, 128, 256});
  auto ref = m->forward(x);
  to_channels_last(*m);
  EXPECT_TRUE(m->conv1->weight.is_contiguous(torch::MemoryFormat::ChannelsLast));
  auto cl = m->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LT((cl - ref).abs().max().item<double>(), 1e-3 * ref.abs().max().item<double>());
  torch::Tensor bf;
  {
    Bf16Autocast autocast(true);
    bf = m->forward(x.contiguous(torch::MemoryFormat::ChannelsLast)).to(torch::kFloat32);
  }
  EXPECT_LT((bf - ref).abs().max().item<double>(), 0.1 * ref.abs().max().item<double>());
}

// tune_allocator_for_batch_work puts LibTorch's large tensors on huge-page-aligned blocks of their own (transparent
// huge pages where the kernel has them), keeps a freed one for the next tensor of about its size, and leaves
// small ones to LibTorch; tensors from either work and free. ctest runs each test in its own process, so the
// changed allocator stays inside this one.
TEST(Allocator, LargeTensorsGoToHugePageAlignedBlocksThatAreReused) {
  tune_allocator_for_batch_work();
  constexpr uintptr_t kHugePage = uintptr_t(2) << 20;
  void* previous = nullptr;
  for (int round = 0; round < 3; ++round) {  // freed blocks come back aligned too
    torch::Tensor large = torch::ones({3, 1024, 1024});  // 12 MiB
    EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data_ptr()) % kHugePage, 0u);
    // A batch's tensors have the sizes of the batch before: the block freed by the last round comes back.
    if (previous) EXPECT_EQ(large.data_ptr(), previous);
    EXPECT_EQ(large.sum().item<double>(), 3.0 * 1024 * 1024);
    torch::Tensor small = torch::full({1000}, 2.0f);
    EXPECT_EQ(small.sum().item<double>(), 2000.0);
    torch::Tensor grown = torch::cat({large, large});  // allocated inside an operator
    EXPECT_EQ(reinterpret_cast<uintptr_t>(grown.data_ptr()) % kHugePage, 0u);
    EXPECT_NE(grown.data_ptr(), large.data_ptr());
    previous = large.data_ptr();
  }
  {
    // A block is not handed out for a tensor much smaller than itself (nor twice at once).
    torch::Tensor huge = torch::zeros({8, 1024, 1024});  // 32 MiB
    torch::Tensor large = torch::zeros({3, 1024, 1024});
    torch::Tensor other = torch::zeros({3, 1024, 1024});
    EXPECT_NE(large.data_ptr(), other.data_ptr());
    EXPECT_NE(large.data_ptr(), huge.data_ptr());
    large.fill_(1.0f);
    other.fill_(2.0f);
    EXPECT_EQ(large.sum().item<double>(), 3.0 * 1024 * 1024);
    EXPECT_EQ(other.sum().item<double>(), 6.0 * 1024 * 1024);
  }
  release_idle_memory();  // the idle blocks unmapped; new ones are mapped as needed
  torch::Tensor again = torch::full({3, 1024, 1024}, 0.5f);
  EXPECT_EQ(again.sum().item<double>(), 1.5 * 1024 * 1024);
  ResNet model = make_model({});  // a whole forward pass on it
  EXPECT_EQ(model->forward(torch::randn({2, 3, 128, 256})).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(Freeze, ChildrenParamsAndRegex) {
  ResNet m = make_model(ModelOptions{});
  FreezeOptions f;
  f.children = 8;  // conv1, bn1, relu, maxpool, layer1..layer4: all but the head
  auto frozen = freeze(m, f);
  int trainable = 0;
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) {
      ++trainable;
      EXPECT_EQ(p.key().rfind("fc.", 0), 0u) << p.key();
    }
  EXPECT_EQ(trainable, 2);
  EXPECT_EQ(frozen.size(), 60u);

  ResNet m2 = make_model(ModelOptions{});
  FreezeOptions p;
  p.params = 3;
  EXPECT_EQ(freeze(m2, p), (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias"}));

  ResNet m3 = make_model(ModelOptions{});
  FreezeOptions r;
  r.regex = "layer[12]\\..*";
  for (auto& name : freeze(m3, r)) EXPECT_TRUE(name.rfind("layer1.", 0) == 0 || name.rfind("layer2.", 0) == 0);

  FreezeOptions too_many;
  too_many.children = 11;
  EXPECT_THROW(freeze(m3, too_many), Error);
  FreezeOptions bad_re;
  bad_re.regex = "([";
  EXPECT_THROW(freeze(m3, bad_re), Error);
  // A pattern must match whole names: "bn" matches none, and is refused instead of freezing nothing.
  FreezeOptions partial;
  partial.regex = "bn";
  try {
    freeze(m3, partial);
    FAIL() << "a pattern that matches nothing was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matches no parameter name"), std::string::npos) << e.what();
  }
  partial.regex = ".*bn.*";
  EXPECT_EQ(freeze(m3, partial).size(), 34u);  // bn1 and the blocks' 16 (downsample.1 is not named bn)
}

TEST(Freeze, FrozenLayersGetNoGradientAndKeepTheirStatistics) {
  ResNet m = make_model(ModelOptions{});
  FreezeOptions f;
  f.children = 5;  // conv1, bn1, relu, maxpool, layer1
  freeze(m, f);
  set_training_mode(m, true, f);
  EXPECT_FALSE(m->bn1->is_training());
  EXPECT_TRUE(m->fc->is_training());
  auto before = m->bn1->running_mean.clone();
  auto l1_before = state_dict(*m).at("layer1.0.bn1.running_var");
  auto l2_before = state_dict(*m).at("layer2.0.bn1.running_var");
  auto loss = m->forward(torch::randn({2, 3, 64, 64})).sum();
  loss.backward();
  EXPECT_FALSE(m->conv1->weight.grad().defined());
  EXPECT_TRUE(m->fc->weight.grad().defined());
  EXPECT_TRUE(torch::equal(before, m->bn1->running_mean));
  EXPECT_TRUE(torch::equal(l1_before, state_dict(*m).at("layer1.0.bn1.running_var")));
  EXPECT_FALSE(torch::equal(l2_before, state_dict(*m).at("layer2.0.bn1.running_var")));  // trainable: updated
  f.frozen_bn_train = true;
  set_training_mode(m, true, f);
  EXPECT_TRUE(m->bn1->is_training());
}

TEST(Weights, SafetensorsRoundTripWithMetadata) {
  test::TempDir dir;
  TensorMap t = {{"a", torch::arange(6, torch::kFloat32).reshape({2, 3})},
                 {"b", torch::tensor({1, 2, 3}, torch::kInt64)},
                 {"c", torch::ones({2}, torch::kBFloat16)}};
  write_safetensors(dir / "w.safetensors", t, {{"note", "hello"}});
  WeightFile w = read_safetensors(dir / "w.safetensors");
  ASSERT_EQ(w.tensors.size(), 3u);
  for (auto& [k, v] : t) EXPECT_TRUE(torch::equal(v, w.tensors.at(k))) << k;
  EXPECT_EQ(w.metadata.at("note"), "hello");
}

// A safetensors file written by hand: the header as given, then `data_bytes` zero bytes.
void write_raw_safetensors(const std::filesystem::path& path, const std::string& header, size_t data_bytes) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  test::write_bytes(path, bytes + header + std::string(data_bytes, '\0'));
}

void expect_error_containing(const std::function<void()>& f, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one saying: " << words;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(Weights, OverlapsHolesNanAndWrongTypesAreRefusedByName) {
  test::TempDir dir;
  const std::string f32 = R"("dtype": "F32", "shape": [2], "data_offsets": )";
  write_raw_safetensors(dir / "overlap.safetensors", "{\"a\": {" + f32 + "[0, 8]}, \"b\": {" + f32 + "[4, 12]}}", 12);
  expect_error_containing([&] { read_safetensors(dir / "overlap.safetensors"); }, "overlap");
  write_raw_safetensors(dir / "hole.safetensors", "{\"a\": {" + f32 + "[0, 8]}, \"b\": {" + f32 + "[12, 20]}}", 20);
  expect_error_containing([&] { read_safetensors(dir / "hole.safetensors"); }, "hole");
  write_raw_safetensors(dir / "tail.safetensors", "{\"a\": {" + f32 + "[0, 8]}}", 24);
  expect_error_containing([&] { read_safetensors(dir / "tail.safetensors"); }, "belong to no tensor");
  write_raw_safetensors(dir / "huge.safetensors",
                        R"({"a": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 8]}})", 8);
  expect_error_containing([&] { read_safetensors(dir / "huge.safetensors"); }, "a");
  // Numbers beyond the integer types (fuzz_safetensors: a shape of 3.9e20 was converted with undefined
  // behaviour), fractional, negative or not numbers at all: refused, naming the field.
  for (const std::string& bad : {R"("shape": [388888888888888844444], "data_offsets": [0, 8])",
                                 R"("shape": [9223372036854775808.0], "data_offsets": [0, 8])",
                                 R"("shape": [2.5], "data_offsets": [0, 8])",
                                 R"("shape": [2], "data_offsets": [0, 1e30])",
                                 R"("shape": [2], "data_offsets": [-8, 8])",
                                 R"("shape": ["two"], "data_offsets": [0, 8])"}) {
    write_raw_safetensors(dir / "bad-number.safetensors", R"({"a": {"dtype": "F32", )" + bad + "}}", 8);
    expect_error_containing([&] { read_safetensors(dir / "bad-number.safetensors"); }, "tensor a");
  }

  ResNet m = make_model(ModelOptions{});
  TensorMap nan = state_dict(*m);
  nan.at("layer2.0.conv1.weight")[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  expect_error_containing([&] { load_weights(m, nan); }, "layer2.0.conv1.weight: holds NaN or infinite values");
  // The last value of a tensor, an infinity, and a tensor of another float type are checked too.
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kFloat16, torch::kBFloat16}) {
    TensorMap inf = state_dict(*m);
    torch::Tensor& w = inf.at("fc.weight");
    w = w.to(dtype);
    w[w.size(0) - 1][w.size(1) - 1] = -std::numeric_limits<float>::infinity();
    expect_error_containing([&] { load_weights(m, inf); }, "fc.weight: holds NaN or infinite values");
  }
  TensorMap ints = state_dict(*m);
  ints.at("fc.bias") = ints.at("fc.bias").to(torch::kInt32);
  expect_error_containing([&] { load_weights(m, ints); }, "fc.bias: holds Int values");
}

TEST(Weights, DamagedFilesAreErrorsNotCrashes) {
  test::TempDir dir;
  write_safetensors(dir / "w.safetensors", {{"a", torch::ones({100})}});
  std::string bytes = test::read_bytes(dir / "w.safetensors");
  test::write_bytes(dir / "cut.safetensors", bytes.substr(0, bytes.size() - 10));
  EXPECT_THROW(read_safetensors(dir / "cut.safetensors"), Error);
  test::write_bytes(dir / "junk.safetensors", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}");
  EXPECT_THROW(read_safetensors(dir / "junk.safetensors"), Error);
  test::write_bytes(dir / "junk.pth", "this is not a checkpoint at all");
  EXPECT_THROW(read_pth(dir / "junk.pth"), Error);
  test::write_bytes(dir / "empty.pth", "");
  EXPECT_THROW(read_pth(dir / "empty.pth"), Error);
  test::write_bytes(dir / "zip.pth", "PK\x03\x04 broken zip");
  EXPECT_THROW(read_pth(dir / "zip.pth"), Error);
  // Every prefix of a valid legacy pickle stream fails cleanly.
  std::string proto = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
  for (size_t n = 1; n < proto.size(); ++n) {
    test::write_bytes(dir / "p.pth", proto.substr(0, n));
    EXPECT_THROW(read_pth(dir / "p.pth"), Error) << n;
  }
}

// The inputs the fuzz targets found (fuzz/corpus/*/regress-*), through the normal build: each read ends
// in a result or a genrenet::Error, never another exception, a crash or a hang.
TEST(FuzzRegressions, EveryKeptInputIsAResultOrAnError) {
  const std::filesystem::path corpus = std::filesystem::path(GENRENET_SOURCE_DIR) / "fuzz" / "corpus";
  int inputs = 0;
  for (const auto& target : std::filesystem::directory_iterator(corpus))
    for (const auto& entry : std::filesystem::directory_iterator(target.path())) {
      if (entry.path().filename().string().rfind("regress-", 0) != 0) continue;
      const std::string kind = target.path().filename().string(), bytes = test::read_bytes(entry.path());
      ++inputs;
      try {
        if (kind == "npy") read_npy(entry.path());
        else if (kind == "pth") read_pth(entry.path());
        else if (kind == "safetensors") read_safetensors(entry.path());
        else if (kind == "audio") load_audio({reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()}, "x");
        else if (kind == "config" && !bytes.empty() && bytes[0] % 3 == 0) FeatureOptions::from_json(bytes.substr(1));
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << entry.path() << ": " << e.what();
      }
    }
  EXPECT_GE(inputs, 5);
}

TEST(Weights, LoadReportsMismatchesAndSkipsAForeignHead) {
  ModelOptions o;
  o.num_classes = 1000;
  o.input_channels = 3;
  TensorMap imagenet_like = state_dict(*make_model(o));
  ModelOptions one_channel;
  one_channel.input_channels = 1;
  ResNet m = make_model(one_channel);  // 10 classes, 1 channel
  LoadReport r = load_weights(m, imagenet_like);
  EXPECT_EQ(r.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty()) << r.summary();
  EXPECT_EQ(r.loaded.size(), 120u);
  EXPECT_TRUE(torch::allclose(m->conv1->weight, imagenet_like.at("conv1.weight").sum(1, true)));
  TensorMap wrong = imagenet_like;
  wrong["layer1.0.conv1.weight"] = torch::zeros({3, 3});
  try {
    load_weights(m, wrong);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "layer1.0.conv1.weight");
  }
  TensorMap extra = state_dict(*m);
  extra["something.else"] = torch::zeros({1});
  EXPECT_EQ(load_weights(m, extra).unexpected, std::vector<std::string>{"something.else"});
  EXPECT_THROW(load_weights(m, extra, /*strict=*/true), Error);
}

TEST(ModelFile, RoundTripsEverything) {
  test::TempDir dir;
  ModelFile f;
  f.model.arch = "resnet18";
  f.classes = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  f.features.n_mels = 96;
  f.training_json = R"({"epoch": 3})";
  ResNet m = make_model(f.model);
  f.weights = state_dict(*m);
  save_model_file(dir / "m.safetensors", f);
  ModelFile g = read_model_file(dir / "m.safetensors");
  EXPECT_EQ(g.classes, f.classes);
  EXPECT_EQ(g.features, f.features);
  EXPECT_EQ(g.training_json, f.training_json);
  ResNet loaded = load_model(g);
  torch::NoGradGuard ng;
  m->eval();
  auto x = torch::randn({1, 3, 96, 64});
  EXPECT_TRUE(torch::allclose(loaded->forward(x), m->forward(x)));
  f.classes.pop_back();
  EXPECT_THROW(save_model_file(dir / "bad.safetensors", f), Error);
  write_safetensors(dir / "plain.safetensors", f.weights);
  EXPECT_THROW(read_model_file(dir / "plain.safetensors"), Error);

  // A model file that declares a huge input (a million frames made a 3-s clip cost 12.5 GB) is refused by
  // name when it is read, before anything is allocated for it.
  WeightFile w = read_safetensors(dir / "m.safetensors");
  auto features = nlohmann::json::parse(w.metadata.at("features"));
  features["frames"] = 1 << 20;
  w.metadata["features"] = features.dump();
  write_safetensors(dir / "huge-input.safetensors", w.tensors, w.metadata);
  expect_error_containing([&] { read_model_file(dir / "huge-input.safetensors"); }, "frames: must be in [1, 21845]");
}

TEST(ModelFile, ClassNamesAreCheckedWhenReadAndWritten) {
  // Issue 25, item 9: ten classes all named "rock", empty names, NUL, newline or "{genre}" in a name, and
  // tampered int8 ranges were accepted without a word.
  test::TempDir dir;
  ModelFile f;
  f.model.arch = "resnet18";
  f.model.num_classes = 3;
  f.classes = {"rock", "jazz", "pop"};
  f.weights = state_dict(*make_model(f.model));
  save_model_file(dir / "good.safetensors", f);
  const WeightFile good = read_safetensors(dir / "good.safetensors");
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"rock", "rock", "rock"}, "appears twice"},        {{"rock", "", "pop"}, "empty class name"},
      {{"rock", std::string("ja\0zz", 5), "pop"}, "control character"}, {{"rock", "jazz\n", "pop"}, "control character"},
      {{"rock", "{genre}", "pop"}, "brace"},               {{"rock", "\xff\xfe", "pop"}, "UTF-8"}};
  for (const auto& [classes, why] : bad) {
    ModelFile g = f;
    g.classes = classes;
    expect_error_containing([&] { save_model_file(dir / "bad.safetensors", g); }, why);
    if (why == "UTF-8") continue;  // (a safetensors header is JSON: its parser refuses such bytes already)
    WeightFile w = good;
    w.metadata["classes"] = nlohmann::json(classes).dump();
    write_safetensors(dir / "tampered.safetensors", w.tensors, w.metadata);
    expect_error_containing([&] { read_model_file(dir / "tampered.safetensors"); }, why);
  }
  // int8 ranges that calibration never makes: refused by name, a sane one read.
  auto with_range = [&](const std::string& range) {
    WeightFile w = good;
    w.metadata["int8"] = R"({"method": "minmax", "clips": 4, "ranges": {"input": [-3.5, 4.0], "layer1": )" + range + "}}";
    write_safetensors(dir / "int8.safetensors", w.tensors, w.metadata);
    return dir / "int8.safetensors";
  };
  EXPECT_NO_THROW(read_model_file(with_range("[0.0, 12.5]")));
  for (const char* range : {"[-1e38, 1e38]", "[-1e-30, 1e-30]", "[0, 0]", "[0, 1, 2]", "[1]"})
    expect_error_containing([&] { read_model_file(with_range(range)); }, "layer1") ;
}

TEST(ModelFile, ImportedWeightsBecomeAModelFileWithANewHead) {
  test::TempDir dir;
  ModelOptions imagenet;
  imagenet.num_classes = 1000;
  ResNet source = make_model(imagenet);
  write_safetensors(dir / "in1k.safetensors", state_dict(*source));
  FeatureOptions fo;
  fo.n_mels = 96;
  const ImportedModel m = import_weights(dir / "in1k.safetensors", dir / "m.safetensors", {"", {"x", "y", "z"}, 3, fo});
  EXPECT_EQ(m.model.arch, "resnet18");  // detected
  EXPECT_EQ(m.model.num_classes, 3);
  EXPECT_EQ(m.report.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  const ModelFile f = read_model_file(dir / "m.safetensors");
  EXPECT_EQ(f.classes, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(f.features, fo);
  EXPECT_TRUE(torch::equal(f.weights.at("conv1.weight"), state_dict(*source).at("conv1.weight")));
  expect_error_containing([&] { import_weights(dir / "in1k.safetensors", dir / "n.safetensors", {"resnet34", {"x"}}); },
                          "holds resnet18 weights, not resnet34");
  expect_error_containing([&] { import_weights(dir / "in1k.safetensors", dir / "n.safetensors", {"", {}}); }, "no class names");
  EXPECT_FALSE(std::filesystem::exists(dir / "n.safetensors"));
}

TEST(Pretrained, CacheFolderFollowsTorchHome) {
  test::TempDir dir;
  setenv("TORCH_HOME", dir.path().c_str(), 1);
  EXPECT_EQ(torch_hub_checkpoints_dir(), dir / "hub" / "checkpoints");
  EXPECT_EQ(imagenet_source("resnet18").file_name, "resnet18-f37072fd.pth");
  EXPECT_EQ(imagenet_source("resnet18").sha256_prefix, "f37072fd");
  EXPECT_THROW(imagenet_source("seresnet50"), Error);
  // Not cached and no download allowed: the message says where to put the file.
  try {
    fetch_imagenet_weights("resnet18", false);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "hub" / "checkpoints" / "resnet18-f37072fd.pth").string()),
              std::string::npos);
  }
  std::filesystem::create_directories(dir / "hub" / "checkpoints");
  test::write_bytes(dir / "hub" / "checkpoints" / "resnet18-f37072fd.pth", "cached");
  EXPECT_EQ(fetch_imagenet_weights("resnet18", false), dir / "hub" / "checkpoints" / "resnet18-f37072fd.pth");
  unsetenv("TORCH_HOME");
}

TEST(Pretrained, DownloadsFromALocalServerAndChecksTheHash) {
  test::TempDir dir;
  setenv("TORCH_HOME", dir.path().c_str(), 1);
  const std::string body(300000, 'w');
  test::write_bytes(dir / "body", body);
  const std::string sha = sha256_file(dir / "body");
  httplib::Server server;
  server.Get("/w.pth", [&](const httplib::Request&, httplib::Response& res) { res.set_content(body, "application/octet-stream"); });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/w.pth";

  PretrainedSource good{"good-" + sha.substr(0, 8) + ".pth", url, sha.substr(0, 8)};
  auto path = fetch_weights(good);
  EXPECT_EQ(test::read_bytes(path), body);

  PretrainedSource bad{"bad-00000000.pth", url, "00000000"};
  EXPECT_THROW(fetch_weights(bad), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "hub" / "checkpoints" / "bad-00000000.pth"));

  PretrainedSource missing{"gone-12345678.pth", url + "-missing", "12345678"};
  EXPECT_THROW(fetch_weights(missing), Error);
  server.stop();
  t.join();
  // Nothing listens there any more: offline.
  try {
    fetch_imagenet_weights("resnet34", true, url);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Offline?"), std::string::npos) << e.what();
  }
  for (auto& e : std::filesystem::directory_iterator(dir / "hub" / "checkpoints"))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos);
  unsetenv("TORCH_HOME");
}

}  // namespace
}  // namespace genrenet
