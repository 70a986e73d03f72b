#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "compute/torch_compat.h"

namespace genrenet {

Bf16Autocast::Bf16Autocast(bool enabled, bool cuda) : enabled_(enabled), cuda_(cuda) {
  if (enabled_) torch_compat::set_bf16_autocast(true, cuda_);
}

Bf16Autocast::~Bf16Autocast() {
  if (!enabled_) return;
  at::autocast::clear_cache();
  torch_compat::set_bf16_autocast(false, cuda_);
}

}  // namespace genrenet
