#include <genrenet/genrenet.h>

namespace genrenet {

Error::Error(std::string subject, std::string reason)
    : std::runtime_error(subject + ": " + reason), subject_(std::move(subject)), reason_(std::move(reason)) {}

}  // namespace genrenet
