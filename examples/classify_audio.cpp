// classify_audio: the genres of audio files under a genrenet model, with the C++ API alone.
//
//   classify_audio model.safetensors song.mp3 other.flac
//
// The model is loaded once; the files are classified on several threads at once, which a Classifier allows.
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <genrenet/classifier.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors AUDIO...\n", argv[0]);
    return 2;
  }
  try {
    const genrenet::Classifier classifier(argv[1]);
    std::vector<std::thread> workers;
    std::mutex print;
    int failed = 0;
    for (int i = 2; i < argc; ++i)
      workers.emplace_back([&, file = std::string(argv[i])] {
        try {
          const genrenet::Classification c = classifier.classify_file(file);
          std::lock_guard lock(print);
          std::printf("%s (%.1f s, %d windows):", file.c_str(), c.duration_seconds, c.window_count);
          for (size_t k = 0; k < 3 && k < c.ranked.size(); ++k)
            std::printf("  %s %.3f", c.ranked[k].genre.c_str(), c.ranked[k].probability);
          std::printf("\n");
        } catch (const std::exception& e) {
          std::lock_guard lock(print);
          std::fprintf(stderr, "error: %s\n", e.what());
          ++failed;
        }
      });
    for (auto& w : workers) w.join();
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
