// Options declared once. Each option of an options struct is one row of a Table: its key, command-line flag,
// help, range and default (the struct's own initialiser). Validation, JSON in and out (TOML is read as the
// same JSON), the command-line flags (src/cli/option_flags.h) and the HTTP service's query parameters
// (src/serve/requests.h) are all made from that row, so a new option or a changed range is one edit, as
// Essentia declares each parameter of an algorithm once. Errors name the option's key; only the CLI names
// flags, and the service its parameters.
//
//   static const Table<SpecAugmentOptions> t = Table<SpecAugmentOptions>("specaugment")
//       .integer("freq_masks", &SpecAugmentOptions::freq_masks, {0, 100}, "Frequency masks per sample", "--freq-masks");
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <genrenet/genrenet.h>

#include "common/json_number.h"

namespace genrenet::options {

using json = nlohmann::json;

// An enum value and its name in JSON, TOML and on the command line.
template <class E>
struct Name {
  E value;
  const char* name;
};

// An interval of numbers; open ends for rules such as (0, 1].
struct Interval {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  bool contains(double x) const {
    return std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
  }
  std::string text() const {
    auto num = [](double v) {
      json j = v == std::floor(v) && std::abs(v) < 1e15 ? json(static_cast<long long>(v)) : json(v);
      return j.dump();
    };
    return std::string(lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
  }
};

// One option of a struct T. Made by Table's builders; the functions close over how to reach the member.
template <class T>
struct Field {
  std::string key;         // JSON and TOML key; "model.arch" is `arch` in the table `model`
  std::string flag;        // command-line flag ("--n-fft"); empty: none
  std::string param;       // HTTP query parameter ("min_confidence"); empty: none
  std::string help;        // one line
  std::string rule;        // what a valid value is: "in [1, 4096]", "constant or cosine"
  std::string group;       // the command-line help section (the table's, or a nested table's)
  bool is_switch = false;  // a flag without a value ("--specaugment"), which sets the value the table gave
  bool is_number = false;  // integer, number or optional_number: a query parameter must be decimal
  bool is_list = false;    // list: the flag takes one or more values
  std::function<json(const T&)> get;
  std::function<void(T&, const json&)> set;              // throws nlohmann's type_error or Error
  std::function<void(T&, const std::string&)> set_text;   // a command-line value ("" for a switch)
  std::function<std::string(const T&)> problem;           // "" when the value is valid, else why not
};

template <class T>
class Table {
 public:
  // `subject` starts every message ("training option"); `group` titles the flags in --help.
  explicit Table(std::string subject, std::string group = {}) : subject_(std::move(subject)), group_(std::move(group)) {}

  const std::string& subject() const { return subject_; }
  const std::vector<Field<T>>& fields() const { return fields_; }

  // A whole number in `range` (int or unsigned members).
  template <class Ref>
  Table& integer(std::string key, Ref ref, Interval range, std::string help, std::string flag = {}) {
    using V = member_t<Ref>;
    static_assert(std::is_integral_v<V> && !std::is_same_v<V, bool>);
    Field<T> f = base(key, flag, help, "in " + range.text());
    f.is_number = true;
    f.get = [ref](const T& t) { return json(access(ref, t)); };
    f.set = [ref, who = named(key)](T& t, const json& v) { access(ref, t) = json_whole<V>(v, who); };
    f.set_text = [ref, who = named(key)](T& t, const std::string& s) {
      V v{};
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || end != s.data() + s.size() || s.empty())
        throw Error(who, "not a whole number in range: \"" + s + "\"");
      access(ref, t) = v;
    };
    f.problem = [ref, range, rule = f.rule](const T& t) {
      const V v = access(ref, t);
      return range.contains(static_cast<double>(v)) ? std::string() : "must be " + rule + ", got " + std::to_string(v);
    };
    return add(std::move(f));
  }

  // A finite number in `range` (double or float members).
  template <class Ref>
  Table& number(std::string key, Ref ref, Interval range, std::string help, std::string flag = {}) {
    using V = member_t<Ref>;
    static_assert(std::is_floating_point_v<V>);
    Field<T> f = base(key, flag, help, "in " + range.text());
    f.is_number = true;
    f.get = [ref](const T& t) { return json(access(ref, t)); };
    f.set = [ref, who = named(key)](T& t, const json& v) { access(ref, t) = json_finite<V>(v, who); };
    f.set_text = [ref, who = named(key)](T& t, const std::string& s) { access(ref, t) = static_cast<V>(parse_number(s, who)); };
    f.problem = [ref, range, rule = f.rule](const T& t) {
      const double v = access(ref, t);
      return range.contains(v) ? std::string() : "must be " + rule + ", got " + json(v).dump();
    };
    return add(std::move(f));
  }

  // A number in `range`, or none (JSON null, or absent; 0 on the command line): std::optional<double>.
  template <class Ref>
  Table& optional_number(std::string key, Ref ref, Interval range, std::string help, std::string flag = {}) {
    Field<T> f = base(key, flag, help, "in " + range.text() + " when set");
    f.is_number = true;
    f.get = [ref](const T& t) { const auto& v = access(ref, t); return v ? json(*v) : json(nullptr); };
    f.set = [ref, who = named(key)](T& t, const json& v) {
      access(ref, t) = v.is_null() ? std::nullopt : std::optional<double>(json_finite<double>(v, who));
    };
    f.set_text = [ref, who = named(key)](T& t, const std::string& s) {
      const double v = parse_number(s, who);
      access(ref, t) = v == 0 ? std::nullopt : std::optional<double>(v);
    };
    f.problem = [ref, range, rule = f.rule](const T& t) {
      const auto& v = access(ref, t);
      return !v || range.contains(*v) ? std::string() : "must be " + rule + ", got " + json(*v).dump();
    };
    return add(std::move(f));
  }

  // A string; one of `choices` unless that list is empty.
  template <class Ref>
  Table& text(std::string key, Ref ref, std::vector<std::string> choices, std::string help, std::string flag = {}) {
    Field<T> f = base(key, flag, help, either(choices));
    f.get = [ref](const T& t) { return json(access(ref, t)); };
    f.set = [ref](T& t, const json& v) { access(ref, t) = v.get<std::string>(); };
    f.set_text = [ref](T& t, const std::string& s) { access(ref, t) = s; };
    f.problem = [ref, choices, rule = f.rule](const T& t) {
      const std::string& v = access(ref, t);
      for (auto& c : choices)
        if (v == c) return std::string();
      return choices.empty() ? std::string() : "must be " + rule + ", got \"" + v + "\"";
    };
    return add(std::move(f));
  }

  // A list of strings (JSON: an array; TOML: an array). On the command line the flag takes one or more
  // values, which replace the list (a config file's included) as a whole.
  template <class Ref>
  Table& list(std::string key, Ref ref, std::string help, std::string flag = {}) {
    Field<T> f = base(key, flag, help, "one or more values");
    f.is_list = true;
    f.get = [ref](const T& t) { return json(access(ref, t)); };
    f.set = [ref](T& t, const json& v) { access(ref, t) = v.get<std::vector<std::string>>(); };
    // The typed values arrive joined by newlines (option_flags.h), which no value on a command line holds.
    f.set_text = [ref](T& t, const std::string& s) {
      std::vector<std::string> values;
      for (size_t start = 0; start <= s.size();) {
        const size_t end = std::min(s.find('\n', start), s.size());
        if (end > start) values.push_back(s.substr(start, end - start));
        start = end + 1;
      }
      access(ref, t) = std::move(values);
    };
    f.problem = [](const T&) { return std::string(); };
    return add(std::move(f));
  }

  // true or false. A flag is a switch setting `flag_sets` ("--no-random-crop" sets false).
  template <class Ref>
  Table& boolean(std::string key, Ref ref, std::string help, std::string flag = {}, bool flag_sets = true) {
    Field<T> f = base(key, flag, help, "true or false");
    f.is_switch = true;
    f.get = [ref](const T& t) { return json(access(ref, t)); };
    f.set = [ref](T& t, const json& v) { access(ref, t) = v.get<bool>(); };
    f.set_text = [ref, flag_sets](T& t, const std::string&) { access(ref, t) = flag_sets; };
    f.problem = [](const T&) { return std::string(); };
    return add(std::move(f));
  }

  // An enum, by the names in `names`.
  template <class E, std::size_t N, class Ref>
  Table& choice(std::string key, Ref ref, const Name<E> (&names)[N], std::string help, std::string flag = {}) {
    std::vector<Name<E>> all(names, names + N);
    std::vector<std::string> spelled;
    for (auto& n : all) spelled.push_back(n.name);
    Field<T> f = base(key, flag, help, either(spelled));
    f.get = [ref, all](const T& t) {
      for (auto& n : all)
        if (n.value == access(ref, t)) return json(n.name);
      return json(nullptr);
    };
    auto from_name = [ref, all, who = named(key), rule = f.rule](T& t, const std::string& s) {
      for (auto& n : all)
        if (s == n.name) return void(access(ref, t) = n.value);
      throw Error(who, "unknown value \"" + s + "\" (allowed: " + rule + ")");
    };
    f.set = [from_name](T& t, const json& v) { from_name(t, v.get<std::string>()); };
    f.set_text = from_name;
    f.problem = [](const T&) { return std::string(); };
    return add(std::move(f));
  }

  // Every option of `inner`, reached through `ref`, under the key `key` ("model.arch"); `except` leaves
  // some out (they are then unknown keys here). Their flags and checks come along.
  template <class U, class Ref>
  Table& nest(const std::string& key, Ref ref, const Table<U>& inner, const std::vector<std::string>& except = {}) {
    groups_.push_back(key);
    for (const Field<U>& g : inner.fields()) {
      if (std::find(except.begin(), except.end(), g.key) != except.end()) continue;
      Field<T> f = carried(g, key + "." + g.key);
      f.get = [ref, g](const T& t) { return g.get(access(ref, t)); };
      // The inner table's errors are renamed with the whole key ("training option features.crop").
      f.set = [ref, g, who = named(f.key)](T& t, const json& v) {
        try {
          g.set(access(ref, t), v);
        } catch (const Error& e) {
          throw Error(who, e.reason());
        }
      };
      f.set_text = [ref, g, who = named(f.key)](T& t, const std::string& s) {
        try {
          g.set_text(access(ref, t), s);
        } catch (const Error& e) {
          throw Error(who, e.reason());
        }
      };
      f.problem = [ref, g](const T& t) { return g.problem(access(ref, t)); };
      fields_.push_back(std::move(f));
    }
    return *this;
  }

  // Every option of `inner` under the same keys, for a struct that holds them as its own members rather
  // than as a U (ClassifierOptions holds ComputeOptions' device, precision and threads): `view` makes the
  // U they form, `update` writes one back. So each option is declared once, in its own stage's table.
  template <class U>
  Table& view(const Table<U>& inner, std::type_identity_t<std::function<U(const T&)>> view,
              std::type_identity_t<std::function<void(T&, const U&)>> update) {
    for (const Field<U>& g : inner.fields()) {
      Field<T> f = carried(g, g.key);
      f.get = [view, g](const T& t) { return g.get(view(t)); };
      auto renamed = [who = named(f.key)](const auto& write) {
        try {
          write();
        } catch (const Error& e) {
          throw Error(who, e.reason());
        }
      };
      f.set = [view, update, g, renamed](T& t, const json& v) {
        renamed([&] {
          U u = view(t);
          g.set(u, v);
          update(t, u);
        });
      };
      f.set_text = [view, update, g, renamed](T& t, const std::string& s) {
        renamed([&] {
          U u = view(t);
          g.set_text(u, s);
          update(t, u);
        });
      };
      f.problem = [view, g](const T& t) { return g.problem(view(t)); };
      fields_.push_back(std::move(f));
    }
    return *this;
  }

  // The HTTP query parameter of the field added last (the service reads it through the same row).
  Table& param(std::string name) {
    fields_.back().param = std::move(name);
    return *this;
  }

  // Any other field (a version key, say), given whole.
  Table& custom(Field<T> f) {
    if (f.group.empty()) f.group = group_;
    return add(std::move(f));
  }

  // A further rule on the field added last: `problem` returns "" or why the value is not valid
  // (for rules between options: hop_length at most n_fft).
  Table& check(std::function<std::string(const T&)> problem) {
    auto& f = fields_.back();
    f.problem = [first = f.problem, problem](const T& t) {
      std::string p = first(t);
      return p.empty() ? problem(t) : p;
    };
    return *this;
  }

  // Throws Error("<subject> <key>", why) for the first option that breaks its rule.
  void validate(const T& t) const {
    for (auto& f : fields_)
      if (std::string p = f.problem(t); !p.empty()) throw Error(named(f.key), p);
  }

  // Every option, nested tables as JSON objects.
  json to_json(const T& t) const {
    json j = json::object();
    for (auto& f : fields_) j[json::json_pointer("/" + replace_dots(f.key))] = f.get(t);
    return j;
  }

  // The keys of `j` over `t` (keys not given keep their values). An unknown key or a value of the wrong
  // type is an Error naming the key; ranges are validate()'s.
  void from_json(T& t, const json& j, const std::string& prefix = {}) const {
    if (!j.is_object()) throw Error(prefix.empty() ? subject_ : named(prefix), "expected a JSON object (a table)");
    for (auto& [k, v] : j.items()) {
      const std::string key = prefix.empty() ? k : prefix + "." + k;
      if (const Field<T>* f = find(key)) {
        try {
          f->set(t, v);
        } catch (const json::exception&) {
          throw Error(named(key), "wrong type: " + v.dump());
        }
      } else if (std::find(groups_.begin(), groups_.end(), key) != groups_.end()) {
        from_json(t, v, key);
      } else {
        throw Error(named(key), "unknown option");
      }
    }
  }

  // A JSON text's options over the defaults; `what` names the text in errors ("training config").
  T parse(const std::string& text, const std::string& what) const {
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      throw Error(what, std::string("not valid JSON (") + e.what() + ")");
    }
    if (!j.is_object()) throw Error(what, "expected a JSON object");
    T t{};
    from_json(t, j);
    return t;
  }

  const Field<T>* find(const std::string& key) const {
    for (auto& f : fields_)
      if (f.key == key) return &f;
    return nullptr;
  }

 private:
  // The member type a reference function returns (a pointer to a data member, or a T& -> V& callable).
  template <class Ref>
  using member_t = std::remove_cvref_t<std::invoke_result_t<Ref, T&>>;

  // Reading uses the same accessor as writing; the const_cast never leads to a write.
  template <class Ref>
  static decltype(auto) access(const Ref& ref, const T& t) {
    return std::invoke(ref, const_cast<T&>(t));
  }
  template <class Ref>
  static decltype(auto) access(const Ref& ref, T& t) {
    return std::invoke(ref, t);
  }

  std::string named(const std::string& key) const { return subject_ + " " + key; }

  Field<T> base(const std::string& key, const std::string& flag, const std::string& help, const std::string& rule) const {
    Field<T> f;
    f.key = key;
    f.flag = flag;
    f.help = help;
    f.rule = rule;
    f.group = group_;
    return f;
  }

  // An inner table's field as one of this table's, under `key`: what it is, not how it is reached.
  template <class U>
  Field<T> carried(const Field<U>& g, std::string key) const {
    Field<T> f;
    f.key = std::move(key);
    f.flag = g.flag;
    f.param = g.param;
    f.help = g.help;
    f.rule = g.rule;
    f.group = g.group.empty() ? group_ : g.group;
    f.is_switch = g.is_switch;
    f.is_number = g.is_number;
    f.is_list = g.is_list;
    return f;
  }

  Table& add(Field<T> f) {
    fields_.push_back(std::move(f));
    return *this;
  }

  static std::string either(const std::vector<std::string>& choices) {
    std::string s;
    for (size_t i = 0; i < choices.size(); ++i)
      s += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
    return s.empty() ? "any text" : s;
  }

  static std::string replace_dots(std::string key) {
    for (char& c : key)
      if (c == '.') c = '/';
    return key;
  }

  static double parse_number(const std::string& s, const std::string& who) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v)) throw Error(who, "not a finite number: \"" + s + "\"");
    return v;
  }

  std::string subject_, group_;
  std::vector<Field<T>> fields_;
  std::vector<std::string> groups_;  // keys of nested tables
};

}  // namespace genrenet::options
