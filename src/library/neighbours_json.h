// The one JSON form of "sounds like" neighbours, for `genrenet similar --format jsonl` and /v1/similar:
// [{file, similarity, row, duration_s}], most similar first; file names of any bytes kept valid UTF-8.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>

#include "common/text.h"

namespace genrenet {

inline nlohmann::json neighbours_json(const std::vector<Neighbour>& found) {
  nlohmann::json n = nlohmann::json::array();
  for (const Neighbour& f : found)
    n.push_back({{"file", utf8_safe(f.file)}, {"similarity", f.similarity}, {"row", f.row}, {"duration_s", f.duration_seconds}});
  return n;
}

}  // namespace genrenet
