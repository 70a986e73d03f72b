// An open libsndfile file that closes itself: the one handle type of src/audio/.
#pragma once

#include <memory>

#include <sndfile.h>

namespace genrenet {

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfileHandle = std::unique_ptr<SNDFILE, SndfileCloser>;

}  // namespace genrenet
