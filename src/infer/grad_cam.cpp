#include "infer/grad_cam.h"

namespace genrenet {

torch::Tensor layer4_features(ResNet& model, const torch::Tensor& inputs) {
  torch::NoGradGuard no_grad;
  return model->features(inputs);
}

GradCamResult grad_cam_of_features(ResNet& model, const torch::Tensor& features, const std::vector<int64_t>& classes,
                                   int64_t height, int64_t width) {
  if (features.dim() != 4 || static_cast<size_t>(features.size(0)) != classes.size())
    throw Error("grad-cam", "expected one class per input");
  for (int64_t c : classes)
    if (c < 0 || c >= model->options().num_classes) throw Error("grad-cam", "class index out of range");
  torch::AutoGradMode with_grad(true);
  const torch::Tensor a = features.detach().requires_grad_(true);
  const torch::Tensor logits = model->head(a);
  const torch::Tensor score = logits.gather(1, torch::tensor(classes, torch::kInt64).unsqueeze(1)).sum();
  const torch::Tensor g = torch::autograd::grad({score}, {a})[0];
  const torch::Tensor weights = g.mean({2, 3}, /*keepdim=*/true);
  const torch::Tensor cam = torch::relu((weights * a).sum(1, /*keepdim=*/true)).detach();
  namespace F = torch::nn::functional;
  GradCamResult r;
  r.maps = F::interpolate(cam, F::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{height, width})
                                   .mode(torch::kBilinear)
                                   .align_corners(false))
               .squeeze(1)
               .contiguous();
  r.logits = logits.detach();
  return r;
}

GradCamResult grad_cam(ResNet& model, const torch::Tensor& inputs, const std::vector<int64_t>& classes) {
  return grad_cam_of_features(model, layer4_features(model, inputs), classes, inputs.size(2), inputs.size(3));
}

}  // namespace genrenet
