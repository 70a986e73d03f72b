// LibTorch's warnings as lines of genrenet's log (genrenet.h: set_log_callback) instead of LibTorch's own
// lines on stderr, on the calling thread while a LibTorchWarningsToLog lives (LibTorch keeps one handler per
// thread): a Warning "LibTorch: <its message>".
//
// One is dropped: LibTorch 2.x's notice, at the first quantized tensor a process makes, that quantized tensors
// "are deprecated and will be removed in a future PyTorch release". The int8 network is genrenet's own choice
// of LibTorch's operators, not its user's, so the notice says nothing a user can act on; what it means for
// genrenet is in docs/BUILDING.md.
#pragma once

#include "compute/torch_compat.h"

namespace genrenet {

class LibTorchWarningsToLog {
 public:
  LibTorchWarningsToLog();
  LibTorchWarningsToLog(const LibTorchWarningsToLog&) = delete;
  LibTorchWarningsToLog& operator=(const LibTorchWarningsToLog&) = delete;

 private:
  torch_compat::WarningHandlerGuard guard_;
};

}  // namespace genrenet
