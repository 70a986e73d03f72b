// A classification as JSON (Classification::to_json), for the code that adds fields of its own to it.
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>

namespace genrenet {

nlohmann::json classification_json(const Classification& c, std::size_t top);

}  // namespace genrenet
