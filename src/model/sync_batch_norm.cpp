// Synchronised batch norm for data-parallel training: the mean and variance of a training batch are
// those of the global batch, summed over every process through a CrossProcessSum. PyTorch's SyncBatchNorm
// is CUDA-only in 1.13, so this is written with differentiable tensor operations: the statistics are
// computed in two passes (mean, then the mean squared deviation), each one cross-process sum, which is
// as accurate as a local batch norm rather than E[x^2] - E[x]^2.
#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet {
namespace {

// y = sum over processes of x; its gradient is the sum over processes of the gradients of y, because
// every process's loss depends on every process's x.
struct CrossProcessSumFunction : public torch::autograd::Function<CrossProcessSumFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const CrossProcessSum* sum) {
    // The module that owns `sum` outlives the step whose backward pass uses it.
    ctx->saved_data["sum"] = reinterpret_cast<int64_t>(sum);
    torch::Tensor y = x.contiguous().clone();
    (*sum)(y);
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto* sum = reinterpret_cast<const CrossProcessSum*>(ctx->saved_data["sum"].toInt());
    torch::Tensor g = grads[0].contiguous().clone();
    (*sum)(g);
    return {g, torch::Tensor()};
  }
};

}  // namespace

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(int64_t num_features_, double eps_, double momentum_)
    : num_features(num_features_), eps(eps_), momentum(momentum_) {
  reset();
}

void SyncBatchNorm2dImpl::reset() {
  // torch::nn::BatchNorm2d's parameters and buffers, in its order and with its initial values.
  weight = register_parameter("weight", torch::ones({num_features}));
  bias = register_parameter("bias", torch::zeros({num_features}));
  running_mean = register_buffer("running_mean", torch::zeros({num_features}));
  running_var = register_buffer("running_var", torch::ones({num_features}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
}

void SyncBatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "genrenet::SyncBatchNorm2d(" << num_features << ", eps=" << eps << ", momentum=" << momentum
         << (sync ? ", synchronised" : "") << ")";
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != num_features)
    throw Error("batch norm", "expected [batch, " + std::to_string(num_features) + ", height, width], got " + c10::str(x.sizes()));
  if (!sync || !is_training()) {
    // What torch::nn::BatchNorm2d does.
    if (is_training()) num_batches_tracked += 1;
    return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps,
                             at::globalContext().userEnabledCuDNN());
  }
  const int64_t channels = x.size(1);
  const torch::Tensor xf = x.to(torch::kFloat32);  // bf16 activations are normalised in fp32
  const auto shape = std::vector<int64_t>{1, channels, 1, 1};
  const double local_count = static_cast<double>(x.numel() / channels);

  torch::Tensor sums = CrossProcessSumFunction::apply(
      torch::cat({xf.sum({0, 2, 3}), torch::full({1}, local_count, xf.options())}), &sync);
  const double count = sums[channels].item<double>();
  if (count < 2) throw Error("batch norm", "a global batch of one value per channel cannot be normalised");
  const torch::Tensor mean = sums.slice(0, 0, channels) / count;
  const torch::Tensor centered = xf - mean.view(shape);
  const torch::Tensor var = CrossProcessSumFunction::apply(centered.square().sum({0, 2, 3}), &sync) / count;
  const torch::Tensor y = centered * torch::rsqrt(var + eps).view(shape) * weight.view(shape) + bias.view(shape);
  {
    torch::NoGradGuard no_grad;
    num_batches_tracked += 1;
    running_mean.mul_(1 - momentum).add_(mean.detach(), momentum);
    running_var.mul_(1 - momentum).add_(var.detach() * (count / (count - 1)), momentum);  // unbiased, as torch
  }
  return y.to(x.scalar_type());
}

void set_batch_norm_sync(torch::nn::Module& module, const CrossProcessSum& sync) {
  for (auto& m : module.modules(/*include_self=*/true))
    if (auto* bn = m->as<SyncBatchNorm2dImpl>()) bn->sync = sync;
}

}  // namespace genrenet
