// A library's own genre tags as training labels: read (TagLib), split, normalised, mapped through the user's
// aliases, thinned to the genres with enough files.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <taglib/id3v1genres.h>

#include <genrenet/library.h>

#include "common/option_tables.h"
#include "common/progress.h"
#include "io/toml_json.h"
#include "library/audio_tags.h"

namespace genrenet {
namespace {

std::string trimmed(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// ID3v1's genre numbers as ID3v2.3 writes them: "(7)", "7", "(7)Hip-Hop" (the text, where given, wins).
std::string id3v1_name(const std::string& value) {
  std::string v = trimmed(value);
  std::string number;
  if (v.size() > 2 && v[0] == '(' && v.find(')') != std::string::npos) {
    const size_t close = v.find(')');
    number = v.substr(1, close - 1);
    const std::string rest = trimmed(v.substr(close + 1));
    if (!rest.empty()) return rest;
  } else {
    number = v;
  }
  if (number.empty() || number.size() > 3 || !std::all_of(number.begin(), number.end(), [](unsigned char c) { return std::isdigit(c); }))
    return v;
  const TagLib::String name = TagLib::ID3v1::genre(std::stoi(number));
  return name.isEmpty() ? v : name.to8Bit(true);
}

// "Rock; Alternative/Indie" -> its names, in order.
std::vector<std::string> split_names(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& value : values) {
    std::string part;
    for (size_t i = 0; i <= value.size(); ++i) {
      const char c = i < value.size() ? value[i] : ';';
      if (c == ';' || c == ',' || c == '/' || c == '|' || c == '\0') {
        if (!trimmed(part).empty()) out.push_back(trimmed(part));
        part.clear();
      } else {
        part += c;
      }
    }
  }
  return out;
}

// The genre map: normalised alias -> the genre it means (the map's key as written).
std::map<std::string, std::string> read_genre_map(const std::string& file) {
  std::map<std::string, std::string> aliases;
  if (file.empty()) return aliases;
  std::ifstream in(file);
  if (!in) throw Error(file, "cannot read the genre map");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    const bool json = std::filesystem::path(file).extension() == ".json";
    j = nlohmann::json::parse(json ? text.str() : io::toml_as_json(text.str(), file));
  } catch (const nlohmann::json::exception& e) {
    throw Error(file, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw Error(file, "a genre map is a table: genre = [\"alias\", ...]");
  for (auto& [genre, names] : j.items()) {
    if (normalise_genre(genre).empty()) throw Error(file, "an empty genre name");
    std::vector<std::string> list;
    if (names.is_string()) list.push_back(names.get<std::string>());
    else if (names.is_array() && std::all_of(names.begin(), names.end(), [](auto& n) { return n.is_string(); }))
      list = names.get<std::vector<std::string>>();
    else
      throw Error(file, genre + ": expected a name or a list of names");
    list.push_back(genre);
    for (const std::string& name : list) {
      const std::string key = normalise_genre(name);
      if (auto [it, fresh] = aliases.emplace(key, genre); !fresh && it->second != genre)
        throw Error(file, "\"" + name + "\" is given for two genres: " + it->second + " and " + genre);
    }
  }
  return aliases;
}

struct ReadFile {
  std::filesystem::path path;
  std::vector<std::string> genres;  // normalised and mapped, each once, in the tag's order
  std::string artist, album;        // album: album artist (or artist) and title
};

// Labels from the genres kept: the first of a file's genres that is kept ("first"), or none when it names
// several ("skip"). Genres are dropped, smallest first, until every one left has min_per_genre files.
std::map<std::string, int> settle_vocabulary(const std::vector<ReadFile>& files, const GenreTagOptions& o,
                                             std::vector<std::pair<std::string, int>>& left_out) {
  std::set<std::string> kept;
  for (auto& f : files) kept.insert(f.genres.begin(), f.genres.end());
  for (;;) {
    std::map<std::string, int> counts;
    for (auto& g : kept) counts[g] = 0;
    for (auto& f : files) {
      std::vector<std::string> named;
      for (auto& g : f.genres)
        if (kept.count(g)) named.push_back(g);
      if (!named.empty() && (o.several == "first" || named.size() == 1)) ++counts[named.front()];
    }
    auto smallest = std::min_element(counts.begin(), counts.end(), [](auto& a, auto& b) { return a.second < b.second; });
    if (smallest == counts.end() || smallest->second >= o.min_per_genre) return counts;
    left_out.emplace_back(smallest->first, smallest->second);
    kept.erase(smallest->first);
  }
}

}  // namespace

std::string normalise_genre(const std::string& name) {
  std::string out;
  for (unsigned char c : id3v1_name(name))
    if (!std::isspace(c) && c != '-' && c != '_' && c != '.' && c != '\'') out += static_cast<char>(std::tolower(c));
  return out;
}

std::vector<std::string> normalise_genres(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& name : split_names(values))
    if (std::string g = normalise_genre(name); !g.empty() && std::find(out.begin(), out.end(), g) == out.end())
      out.push_back(std::move(g));
  return out;
}

const options::Table<GenreTagOptions>& genre_tag_options_table() {
  static const auto t =
      options::Table<GenreTagOptions>("genre tag option", "Genre tags as labels")
          .list("libraries", &GenreTagOptions::libraries,
                "Learn the genres of these libraries' genre tags (folders, files, @lists) instead of --data's folders",
                "--from-tags")
          .text("genre_map", &GenreTagOptions::genre_map, {},
                "TOML or JSON file of genre = [aliases], e.g. hiphop = [\"Hip Hop\", \"Rap\"]", "--genre-map")
          .integer("min_per_genre", &GenreTagOptions::min_per_genre, {1, 1000000},
                   "Genres with fewer files are left out (and listed)", "--min-per-genre")
          .text("several", &GenreTagOptions::several, {"first", "skip"},
                "A file naming several learnt genres: counts for the first, or is skipped", "--several-genres");
  return t;
}
void GenreTagOptions::validate() const { genre_tag_options_table().validate(*this); }

TaggedLibrary scan_tagged_library(const GenreTagOptions& o) {
  o.validate();
  if (o.libraries.empty()) throw Error("genre tag option libraries", "no library given");
  for (const std::string& lib : o.libraries)
    if (lib.empty() || (lib[0] != '@' && !std::filesystem::exists(lib))) throw Error(lib, "no such folder or file");
  const std::map<std::string, std::string> aliases = read_genre_map(o.genre_map);
  TaggedLibrary out;
  std::vector<ReadFile> files;
  const std::vector<std::filesystem::path> paths = collect_audio_files(o.libraries);
  ProgressBar bar("genre tags", paths.size());
  for (const auto& path : paths) {
    bar.tick();
    tags::FileLabels labels;
    try {
      labels = tags::read_labels(path);
    } catch (const Error& e) {
      out.errors.push_back(e.what());
      out.untagged.push_back(path);
      continue;
    }
    ReadFile f{std::filesystem::absolute(path).lexically_normal(), {}, labels.artist, {}};
    for (std::string g : normalise_genres(labels.genres)) {
      if (auto it = aliases.find(g); it != aliases.end()) g = it->second;
      if (std::find(f.genres.begin(), f.genres.end(), g) == f.genres.end()) f.genres.push_back(g);
    }
    if (!labels.album.empty()) f.album = (labels.album_artist.empty() ? labels.artist : labels.album_artist) + " - " + labels.album;
    if (f.genres.empty()) out.untagged.push_back(path);
    else files.push_back(std::move(f));
  }
  bar.finish();
  const std::map<std::string, int> counts = settle_vocabulary(files, o, out.left_out);
  for (auto& [genre, n] : counts) out.data.classes.push_back(genre);
  if (out.data.classes.size() < 2)
    throw Error(o.libraries.front(), std::to_string(out.data.classes.size()) + " genre(s) with at least " +
                                         std::to_string(o.min_per_genre) + " tagged files: nothing to learn (" +
                                         std::to_string(files.size()) + " files have genre tags, " +
                                         std::to_string(out.untagged.size()) + " none)");
  for (auto& f : files) {
    std::vector<int> named;
    for (auto& g : f.genres)
      if (counts.count(g)) named.push_back(static_cast<int>(std::find(out.data.classes.begin(), out.data.classes.end(), g) - out.data.classes.begin()));
    if (named.size() > 1) ++out.several;
    if (named.empty() || (o.several == "skip" && named.size() > 1)) continue;
    out.data.clips.push_back(Clip{f.path, named.front(), f.path.string(), f.artist, f.album});
  }
  out.data.root = o.libraries.front();
  std::sort(out.data.clips.begin(), out.data.clips.end(), [](const Clip& a, const Clip& b) { return a.id < b.id; });
  return out;
}

std::string TaggedLibrary::to_json() const {
  nlohmann::json per_genre = nlohmann::json::object(), left = nlohmann::json::object();
  for (auto& g : data.classes) per_genre[g] = 0;
  for (auto& c : data.clips) per_genre[data.classes[c.label]] = per_genre[data.classes[c.label]].get<int>() + 1;
  for (auto& [g, n] : left_out) left[g] = n;
  return nlohmann::json({{"genres", per_genre},
                         {"left_out", left},
                         {"untagged", untagged.size()},
                         {"several_genres", several},
                         {"unreadable", errors}})
      .dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace genrenet
