// genrenet/embed.h — where audio lies in "sounds like" space (Classifier::embed): an embedding, and one
// entry of a batch of them. Stores and similarity search over them: genrenet/library.h. No LibTorch headers.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace genrenet {

// Where audio lies in "sounds like" space: the network's pooled penultimate features (layer4 averaged over
// frequency and time: 512 values for ResNet-18/34, 2048 for ResNet-50/SE-ResNet-50), averaged over the
// audio's windows (as classify cuts them) and L2-normalised, so that the inner product of two embeddings is
// their cosine similarity. Computed in fp32 whatever the classifier's precision (its batch norms folded; in
// channels_last where that measures faster: the same values to about 1e-6). (All zeros only if every feature is
// zero, as for an input the network does not respond to at all.)
struct Embedding {
  std::vector<float> values;
  int window_count = 0;
  double duration_seconds = 0;
};

// One entry of a batch of embeddings: the file and either its embedding or the error that stopped it.
struct FileEmbedding {
  std::filesystem::path file;
  std::string error;
  Embedding result;
};

}  // namespace genrenet
