// The audio files a command was given: files as they are, folders searched for audio (sorted, so runs and
// shards see one order), and @LIST files of paths, one a line. Kept beside the decoder rather than the
// classifier: training from tags, quantisation and every batch command list their inputs the same way.
#include <algorithm>
#include <cctype>
#include <fstream>

#include <genrenet/classify.h>
#include <genrenet/genrenet.h>

namespace genrenet {

std::vector<std::filesystem::path> collect_audio_files(const std::vector<std::string>& inputs) {
  std::vector<std::filesystem::path> files;
  for (const std::string& in : inputs) {
    if (!in.empty() && in[0] == '@') {
      const std::filesystem::path list = in.substr(1);
      std::ifstream f(list);
      if (!f) throw Error(list.string(), "cannot read this list of files");
      std::string line;
      while (std::getline(f, line)) {
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
        size_t s = 0;
        while (s < line.size() && std::isspace(static_cast<unsigned char>(line[s]))) ++s;
        if (s < line.size() && line[s] != '#') files.emplace_back(line.substr(s));
      }
      continue;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(in, ec)) {
      std::vector<std::filesystem::path> found;
      auto opts = std::filesystem::directory_options::skip_permission_denied;
      for (auto it = std::filesystem::recursive_directory_iterator(in, opts, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        // A dangling symbolic link is listed too: it becomes an error row that says so, not a silent skip.
        if ((it->is_regular_file(ec) || (it->is_symlink(ec) && !std::filesystem::exists(it->path(), ec))) &&
            has_audio_extension(it->path()))
          found.push_back(it->path());
      if (ec) throw Error(in, "cannot list this folder (" + ec.message() + ")");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.emplace_back(in);  // a missing or unreadable file becomes that file's error row
    }
  }
  return files;
}

}  // namespace genrenet
