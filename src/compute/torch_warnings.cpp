#include "compute/torch_warnings.h"

#include "common/log.h"

namespace genrenet {
namespace {

class ToLog : public torch_compat::WarningHandlerBase {
 public:
  void warn(const std::string& message) override {
    if (message.find("quantized tensor creation functions") != std::string::npos &&
        message.find("deprecated") != std::string::npos)
      return;
    log(LogLevel::Warning, "LibTorch: " + message);
  }
};

torch_compat::WarningHandlerBase* to_log() {
  static ToLog handler;  // stateless; shared by every thread's guard
  return &handler;
}

}  // namespace

LibTorchWarningsToLog::LibTorchWarningsToLog() : guard_(to_log()) {}

}  // namespace genrenet
