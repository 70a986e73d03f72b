// Dataset layouts: labels are folder names, sorted, so class indices do not depend on listing order.
#include <algorithm>
#include <set>

#include <genrenet/data.h>

namespace genrenet {
Dataset scan_dataset(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw Error(dir.string(), "no such dataset folder");
  // The common GTZAN layouts put the genre folders one or two levels down.
  std::filesystem::path root = dir;
  for (const char* sub : {"genres_original", "Data/genres_original", "genres", "gtzan/genres"})
    if (std::filesystem::is_directory(dir / sub, ec)) {
      root = dir / sub;
      break;
    }
  Dataset d;
  d.root = root;
  std::vector<std::filesystem::path> class_dirs;
  for (auto& e : std::filesystem::directory_iterator(root, ec))
    if (e.is_directory() && e.path().filename().string()[0] != '.') class_dirs.push_back(e.path());
  std::sort(class_dirs.begin(), class_dirs.end());
  for (auto& cd : class_dirs) {
    std::vector<std::filesystem::path> files;
    for (auto& f : std::filesystem::recursive_directory_iterator(cd, ec))
      if (f.is_regular_file() && has_audio_extension(f.path())) files.push_back(f.path());
    // An empty class folder would silently make a model of one class fewer.
    if (files.empty())
      throw Error(cd.string(), "a class folder without audio files: add its clips or remove the folder");
    std::sort(files.begin(), files.end());
    const int label = static_cast<int>(d.classes.size());
    d.classes.push_back(cd.filename().string());
    for (auto& f : files) d.clips.push_back({f, label, d.classes.back() + "/" + f.stem().string(), "", ""});
  }
  if (d.classes.empty())
    throw Error(dir.string(), "no class folders with audio files (expected <root>/<class>/<audio files>)");
  if (d.classes.size() < 2) throw Error(dir.string(), "only one class folder (" + d.classes[0] + "): nothing to classify");
  std::sort(d.clips.begin(), d.clips.end(), [](const Clip& a, const Clip& b) { return a.id < b.id; });
  return d;
}

}  // namespace genrenet
