// Parity with torchvision 0.14: the same weights and input give the same logits (eval and train mode),
// one Adam step gives the same weights, and every checkpoint format loads to the same tensors.
// Fixtures: tests/make_model_fixtures.py, run by ctest first (GENRENET_MODEL_FIXTURES says where).
#include <cstdlib>

#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "infer/grad_cam.h"
#include "test_util.h"

namespace genrenet {
namespace {

std::filesystem::path fixtures() {
  const char* d = std::getenv("GENRENET_MODEL_FIXTURES");
  return d ? d : "model-fixtures";
}

torch::Tensor npy_tensor(const std::filesystem::path& p) {
  NpyArray a = read_npy(p);
  return torch::from_blob(a.data.data(), a.shape, torch::kFloat32).clone();
}

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

class TorchvisionParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionParity, LogitsAgreeInEvalAndTrainMode) {
  const std::string arch = GetParam();
  ASSERT_TRUE(std::filesystem::exists(fixtures() / (arch + ".pth"))) << "run tests/make_model_fixtures.py";
  torch::manual_seed(0);
  ModelOptions o;
  o.arch = arch;
  o.input_channels = 3;
  ResNet model = make_model(o);
  TensorMap weights = read_pth(fixtures() / (arch + ".pth"));
  EXPECT_EQ(detect_architecture(weights), arch);
  LoadReport r = load_weights(model, weights, /*strict=*/true);
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty()) << r.summary();
  torch::Tensor x = npy_tensor(fixtures() / "input.npy").repeat({1, 3, 1, 1});
  torch::NoGradGuard no_grad;
  model->eval();
  double eval = max_rel_diff(model->forward(x), npy_tensor(fixtures() / (arch + "_eval.npy")));
  model->train();
  double train = max_rel_diff(model->forward(x), npy_tensor(fixtures() / (arch + "_train.npy")));
  std::printf("[ parity   ] %s logits: eval %.2e, train %.2e (relative to the largest logit)\n", arch.c_str(), eval, train);
  EXPECT_LT(eval, 1e-4);
  EXPECT_LT(train, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Archs, TorchvisionParity, ::testing::Values("resnet18", "resnet34", "resnet50"));

// Grad-CAM equals the one written with PyTorch hooks on torchvision's network (layer4's output and its
// gradient for the class's logit), on the same weights and input.
class TorchvisionParityGradCam : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionParityGradCam, MapsEqualPyTorchHooks) {
  const std::string arch = GetParam();
  ASSERT_TRUE(std::filesystem::exists(fixtures() / (arch + "_gradcam.npy"))) << "run tests/make_model_fixtures.py";
  ModelOptions o;
  o.arch = arch;
  ResNet model = make_model(o);
  load_weights(model, read_pth(fixtures() / (arch + ".pth")), /*strict=*/true);
  model->eval();
  const torch::Tensor x = npy_tensor(fixtures() / "input.npy").repeat({1, 3, 1, 1});
  const GradCamResult r = grad_cam(model, x, {3, 7});
  const torch::Tensor expected = npy_tensor(fixtures() / (arch + "_gradcam.npy"));
  ASSERT_EQ(r.maps.sizes(), expected.sizes());
  const double diff = max_rel_diff(r.maps, expected);
  std::printf("[ parity   ] %s Grad-CAM: %.2e (relative to the largest value)\n", arch.c_str(), diff);
  EXPECT_LT(diff, 1e-4);
  EXPECT_GT(expected.max().item<double>(), 0);  // a map, not zeros compared with zeros
}

INSTANTIATE_TEST_SUITE_P(Archs, TorchvisionParityGradCam, ::testing::Values("resnet18", "resnet50"));

TEST(TorchvisionParityOneChannel, SummedConv1EqualsTheRepeatedInput) {
  ModelOptions o;
  o.input_channels = 1;
  ResNet model = make_model(o);
  load_weights(model, read_pth(fixtures() / "resnet18.pth"), true);
  model->eval();
  torch::NoGradGuard no_grad;
  double d = max_rel_diff(model->forward(npy_tensor(fixtures() / "input.npy")),
                          npy_tensor(fixtures() / "resnet18_eval.npy"));
  EXPECT_LT(d, 1e-4);
}

TEST(CheckpointFormats, ZipLegacyAndSafetensorsLoadTheSameTensors) {
  TensorMap zip = read_pth(fixtures() / "resnet18.pth");
  TensorMap legacy = read_pth(fixtures() / "resnet18_legacy.pth");
  WeightFile st = read_safetensors(fixtures() / "resnet18.safetensors");
  ASSERT_EQ(zip.size(), 122u);  // 62 parameters + 60 batch-norm buffers
  ASSERT_EQ(legacy.size(), zip.size());
  ASSERT_EQ(st.tensors.size(), zip.size());
  for (auto& [k, t] : zip) {
    EXPECT_TRUE(torch::equal(t, legacy.at(k))) << k;
    EXPECT_TRUE(torch::equal(t, st.tensors.at(k))) << k;
  }
  EXPECT_EQ(zip.at("layer1.0.bn1.num_batches_tracked").scalar_type(), torch::kInt64);
}

TEST(CheckpointFormats, APickleNamingOsSystemIsRefused) {
  try {
    read_pth(fixtures() / "evil.pth");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("posix.system"), std::string::npos) << e.what();
  }
}

// A record that inflates beyond what its storage declares, or more than 64 times, is refused before
// anything is inflated (the 1-GiB bomb used to cost 2.26 GB of memory).
TEST(CheckpointFormats, ZipBombsAreRefusedBeforeInflating) {
  try {
    read_pth(fixtures() / "bomb.pth");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("record data/0 declares 1073741824 bytes where 1048576 are expected"),
              std::string::npos) << e.what();
  }
  try {
    read_pth(fixtures() / "inflating.pth");
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a zip bomb?"), std::string::npos) << e.what();
  }
}

TEST(AdamParity, OneStepGivesTorchsWeights) {
  ModelOptions o;
  o.input_channels = 3;
  ResNet model = make_model(o);
  load_weights(model, read_pth(fixtures() / "resnet18.pth"), true);
  model->train();
  torch::Tensor x = npy_tensor(fixtures() / "input.npy").repeat({1, 3, 1, 1});
  torch::Tensor y = npy_tensor(fixtures() / "labels.npy").to(torch::kInt64);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-4));
  opt.zero_grad();
  torch::nn::functional::cross_entropy(model->forward(x), y).backward();
  opt.step();
  TensorMap expected = read_safetensors(fixtures() / "resnet18_adam.safetensors").tensors;
  TensorMap got = state_dict(*model);
  ASSERT_EQ(got.size(), expected.size());
  // Adam's first step moves each weight by lr * g / (|g| + eps): about lr (1e-4) whatever the gradient's
  // size, so a weight whose gradient is within rounding of 0 may move either way. The reference is PyTorch
  // 1.13; on another LibTorch (2.x: other oneDNN kernels, other rounding of the gradients) a few such weights
  // differ by up to lr. A wrong formula (learning rate, betas, bias correction, eps) moves nearly all of them.
  double worst = 0;
  int64_t elements = 0, beyond = 0;
  for (auto& [k, t] : expected) {
    auto diff = (got.at(k).to(torch::kFloat64) - t.to(torch::kFloat64)).abs();
    worst = std::max(worst, diff.max().item<double>());
    elements += diff.numel();
    beyond += (diff > 1e-5).sum().item<int64_t>();
  }
  std::printf("[ parity   ] one Adam step: largest weight difference %.2e; %lld of %lld weights differ by more than 1e-5\n",
              worst, static_cast<long long>(beyond), static_cast<long long>(elements));
  EXPECT_LT(worst, 1.5e-4);                 // never more than one step's reach
  EXPECT_LE(beyond, elements / 100000);     // and almost never more than 1e-5 (1.13 against 1.13: none)
}

TEST(CheckpointFormats, CliImportsTheCachedImagenetFile) {
  // `weights import imagenet` finds torchvision's file in $TORCH_HOME/hub/checkpoints without a network.
  test::TempDir dir;
  std::filesystem::create_directories(dir / "hub" / "checkpoints");
  std::filesystem::copy_file(fixtures() / "resnet18.pth", dir / "hub" / "checkpoints" / "resnet18-f37072fd.pth");
  auto out = (dir / "m.safetensors").string();
  auto r = test::run("TORCH_HOME=" + dir.path().string() + " " + GENRENET_EXE +
                     " weights import imagenet --arch resnet18 --offline --classes " +
                     "blues,classical,country,disco,hiphop,jazz,metal,pop,reggae,rock --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  ModelFile f = read_model_file(out);
  TensorMap tv = read_pth(fixtures() / "resnet18.pth");
  EXPECT_TRUE(torch::equal(f.weights.at("layer3.1.conv2.weight"), tv.at("layer3.1.conv2.weight")));
  EXPECT_TRUE(torch::equal(f.weights.at("conv1.weight"), tv.at("conv1.weight")));
  r = test::run("TORCH_HOME=" + (dir / "empty").string() + " " + GENRENET_EXE +
                " weights import imagenet --arch resnet34 --offline --classes a --out " + out);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("put torchvision's file at"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace genrenet
