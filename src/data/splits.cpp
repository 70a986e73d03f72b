// Train/validation/test splits. Every split is a list of clip ids, saved with the run, so that evaluation
// later uses exactly the clips training did not see.
#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include <genrenet/data.h>

namespace genrenet {
namespace {

// Clip ids per class, in a seeded random order.
std::vector<std::vector<std::string>> shuffled_by_class(const Dataset& d, unsigned seed) {
  std::vector<std::vector<std::string>> by_class(d.classes.size());
  for (auto& c : d.clips) by_class[c.label].push_back(c.id);
  std::mt19937 rng(seed);
  for (auto& v : by_class) std::shuffle(v.begin(), v.end(), rng);
  return by_class;
}

// "blues/blues.00012.wav", "/data/genres/blues/blues.00012.au" or "blues.00012" -> the clip's id.
std::string id_of_entry(std::string entry, const std::map<std::string, std::string>& by_stem) {
  while (!entry.empty() && (entry.back() == '\r' || entry.back() == ' ')) entry.pop_back();
  std::filesystem::path p(entry);
  std::string stem = p.stem().string();
  auto it = by_stem.find(stem);
  return it == by_stem.end() ? "" : it->second;
}

std::vector<std::string> read_list(const std::filesystem::path& file, const std::map<std::string, std::string>& by_stem,
                                   std::vector<std::string>& not_found) {
  std::ifstream in(file);
  if (!in) throw Error(file.string(), "cannot read split list");
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string id = id_of_entry(line, by_stem);
    if (id.empty()) not_found.push_back(line);
    else ids.push_back(id);
  }
  return ids;
}

// The key that keeps clips together for "album" and "artist": a clip without one is a group of its own.
std::string group_key(const Clip& c, bool by_album) {
  if (by_album && !c.album.empty()) return "album\x1f" + c.artist + "\x1f" + c.album;
  if (!by_album && !c.artist.empty()) return "artist\x1f" + c.artist;
  return "clip\x1f" + c.id;
}

// Stratified 80/10/10 over whole groups: each group (an album, an artist) is on one side only, since clips of
// one album on both sides make a model look better than it is (the lesson of GTZAN's fault-filtered split).
// A group counts for the class most of its clips have; for each class its groups are drawn in a seeded order
// into test, then validation, until each holds about a tenth of the class's clips (at least one group each
// where the class has three groups or more), and the rest trains.
void split_by_groups(const Dataset& d, bool by_album, unsigned seed, Split& s) {
  std::map<std::string, std::vector<const Clip*>> groups;
  for (auto& c : d.clips) groups[group_key(c, by_album)].push_back(&c);
  std::vector<std::vector<const std::vector<const Clip*>*>> by_class(d.classes.size());
  std::vector<size_t> clips_of_class(d.classes.size(), 0);
  for (auto& [key, clips] : groups) {
    std::vector<int> votes(d.classes.size(), 0);
    for (const Clip* c : clips) ++votes[c->label];
    const auto major = std::max_element(votes.begin(), votes.end()) - votes.begin();
    by_class[major].push_back(&clips);
    clips_of_class[major] += clips.size();
  }
  std::mt19937 rng(seed);
  for (size_t k = 0; k < by_class.size(); ++k) {
    auto& class_groups = by_class[k];
    std::shuffle(class_groups.begin(), class_groups.end(), rng);
    const size_t tenth = std::max<size_t>(1, (clips_of_class[k] + 5) / 10);
    size_t in_test = 0, in_valid = 0, g = 0;
    auto put = [&](std::vector<std::string>& subset, size_t& count) {
      for (const Clip* c : *class_groups[g]) subset.push_back(c->id);
      count += class_groups[g++]->size();
    };
    if (class_groups.size() >= 3) {
      while (g + 2 <= class_groups.size() && (in_test == 0 || in_test + class_groups[g]->size() <= tenth)) put(s.test, in_test);
      while (g + 1 < class_groups.size() && (in_valid == 0 || in_valid + class_groups[g]->size() <= tenth)) put(s.valid, in_valid);
    }
    while (g < class_groups.size()) {
      size_t ignored = 0;
      put(s.train, ignored);
    }
  }
  for (auto* v : {&s.train, &s.valid, &s.test}) std::sort(v->begin(), v->end());
}

}  // namespace

int kfold_count(const std::string& spec) {
  if (spec.rfind("kfold:", 0) != 0) return 0;
  try {
    int k = std::stoi(spec.substr(6));
    if (k < 2 || k > 100) throw Error("split", "kfold needs K in [2, 100], got " + spec);
    return k;
  } catch (const std::logic_error&) {
    throw Error("split", "kfold needs a number: kfold:5");
  }
}

Split make_split(const Dataset& d, const std::string& spec, unsigned seed, const std::filesystem::path& split_dir,
                 int fold) {
  Split s;
  s.spec = spec;
  if (spec == "paper") {
    // Stratified 80/10/10: GTZAN's 100 clips per genre give 800/100/100. Validation and test get a tenth
    // of each class, rounded, and at least one clip where the class has three or more.
    for (auto& ids : shuffled_by_class(d, seed)) {
      const size_t n = ids.size();
      const size_t tenth = n >= 3 ? std::max<size_t>(1, (n + 5) / 10) : 0;
      const size_t n_train = n - 2 * tenth;
      for (size_t i = 0; i < n; ++i) (i < n_train ? s.train : i < n_train + tenth ? s.valid : s.test).push_back(ids[i]);
    }
  } else if (spec == "album" || spec == "artist") {
    split_by_groups(d, spec == "album", seed, s);
  } else if (int k = kfold_count(spec)) {
    if (fold < 0 || fold >= k) throw Error("fold", "must be in [0, " + std::to_string(k) + ")");
    s.spec = spec + "/" + std::to_string(fold);
    // Fold f is the test set; a tenth of each class's remaining clips (at least one) validates, the rest
    // trains. Works for any K >= 2.
    for (auto& ids : shuffled_by_class(d, seed)) {
      std::vector<std::string> rest;
      for (size_t i = 0; i < ids.size(); ++i) (static_cast<int>(i % k) == fold ? s.test : rest).push_back(ids[i]);
      const size_t n_valid = rest.size() >= 2 ? std::max<size_t>(1, (rest.size() + 5) / 10) : 0;
      for (size_t i = 0; i < rest.size(); ++i) (i < n_valid ? s.valid : s.train).push_back(rest[i]);
    }
  } else if (spec == "sturm" || spec.rfind("lists:", 0) == 0) {
    std::map<std::string, std::string> by_stem;
    for (auto& c : d.clips) by_stem[std::filesystem::path(c.id).filename().string()] = c.id;
    std::filesystem::path lists[3];
    if (spec == "sturm") {
      if (split_dir.empty()) throw Error("split sturm", "needs split_dir, the folder of {train,valid,test}_filtered.txt");
      lists[0] = split_dir / "train_filtered.txt";
      lists[1] = split_dir / "valid_filtered.txt";
      lists[2] = split_dir / "test_filtered.txt";
    } else {
      std::string rest = spec.substr(6);
      for (int i = 0; i < 3; ++i) {
        auto comma = rest.find(',');
        if ((comma == std::string::npos) != (i == 2)) throw Error("split", "lists: needs TRAIN,VALID,TEST files");
        lists[i] = rest.substr(0, comma);
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      }
    }
    s.train = read_list(lists[0], by_stem, s.not_found);
    s.valid = read_list(lists[1], by_stem, s.not_found);
    s.test = read_list(lists[2], by_stem, s.not_found);
  } else {
    throw Error("split", "unknown split \"" + spec + "\" (paper, album, artist, sturm, kfold:K, lists:TRAIN,VALID,TEST)");
  }
  std::set<std::string> seen;
  for (auto* v : {&s.train, &s.valid, &s.test})
    for (auto& id : *v)
      if (!seen.insert(id).second) throw Error("split " + s.spec, "clip " + id + " is in two subsets");
  if (s.train.empty()) throw Error("split " + s.spec, "no training clips");
  if (s.valid.empty()) throw Error("split " + s.spec, "no validation clips");
  return s;
}

const std::vector<std::string>& Split::subset(const std::string& name) const {
  if (name == "train") return train;
  if (name == "valid") return valid;
  if (name == "test") return test;
  throw Error("split subset", "must be train, valid or test, got \"" + name + "\"");
}

SplitClips find_clips(const Dataset& data, const std::vector<std::string>& ids) {
  std::map<std::string, const Clip*> by_id;
  for (auto& c : data.clips) by_id[c.id] = &c;
  SplitClips out;
  for (auto& id : ids) {
    if (auto it = by_id.find(id); it != by_id.end()) out.clips.push_back(*it->second);
    else out.missing.push_back(id);
  }
  return out;
}

std::string Split::to_json() const {
  return nlohmann::json({{"spec", spec}, {"train", train}, {"valid", valid}, {"test", test}, {"not_found", not_found}})
      .dump(1);
}

Split Split::from_json(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    Split s;
    s.spec = j.at("spec").get<std::string>();
    s.train = j.at("train").get<std::vector<std::string>>();
    s.valid = j.at("valid").get<std::vector<std::string>>();
    s.test = j.at("test").get<std::vector<std::string>>();
    s.not_found = j.value("not_found", std::vector<std::string>{});
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error("split.json", std::string("damaged (") + e.what() + ")");
  }
}

}  // namespace genrenet
