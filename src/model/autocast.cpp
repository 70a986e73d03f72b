#include <ATen/autocast_mode.h>

#include <genrenet/model.h>

namespace genrenet {

Bf16Autocast::Bf16Autocast(bool enabled, bool cuda) : enabled_(enabled), cuda_(cuda) {
  if (!enabled_) return;
  if (cuda_) {
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  } else {
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
}

Bf16Autocast::~Bf16Autocast() {
  if (!enabled_) return;
  at::autocast::clear_cache();
  if (cuda_) at::autocast::set_enabled(false);
  else at::autocast::set_cpu_enabled(false);
}

}  // namespace genrenet
