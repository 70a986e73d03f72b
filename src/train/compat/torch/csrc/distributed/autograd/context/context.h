// Debian's libtorch-dev 1.13 ships c10d's reducer.hpp but not this header, which reducer.hpp includes
// for two names only: DistAutogradContext::GradCallback (in a static_assert) and ContextPtr (a
// std::shared_ptr member, whose layout does not depend on the class it points to). These declarations
// match LibTorch 1.13's; the class itself lives in libtorch and is never used by genrenet. CMake adds this
// folder to the include path only when the real header is missing.
#pragma once

#include <functional>
#include <memory>

#include <ATen/core/Tensor.h>

namespace torch::distributed::autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace torch::distributed::autograd
