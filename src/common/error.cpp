#include <genrenet/genrenet.h>

namespace genrenet {

Error::Error(std::string subject, std::string reason, ErrorKind kind)
    : std::runtime_error(subject + ": " + reason), subject_(std::move(subject)), reason_(std::move(reason)), kind_(kind) {}

}  // namespace genrenet
