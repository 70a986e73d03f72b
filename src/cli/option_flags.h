// Command-line flags made from an option table (src/common/option_table.h): one flag per option that declares
// one, in --help sections by the options' groups, with the rule and the default shown. The values typed are
// applied, in the order typed, over whatever the options were before (defaults, a config file), so a flag
// overrides a file only where it was given.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/option_table.h"

namespace genrenet::cli {

template <class T>
class OptionFlags {
 public:
  // `only`: the keys of the options this command offers (default: every option with a flag).
  explicit OptionFlags(const options::Table<T>& table, std::vector<std::string> only = {})
      : table_(&table), only_(std::move(only)) {}
  OptionFlags(const OptionFlags&) = delete;  // the flags' callbacks hold `this`
  OptionFlags& operator=(const OptionFlags&) = delete;

  // `defaults`: the values --help shows (a command whose default differs from the struct's says its own).
  void add_to(CLI::App* cmd, const T& defaults = T{}) {
    std::map<std::string, CLI::App*> groups;
    for (const options::Field<T>& f : table_->fields()) {
      if (f.flag.empty() || (!only_.empty() && std::find(only_.begin(), only_.end(), f.key) == only_.end())) continue;
      CLI::App*& where = groups[f.group];
      if (!where) where = f.group.empty() ? cmd : cmd->add_option_group(f.group);
      const options::Field<T>* field = &f;
      if (f.is_switch) {
        where->add_flag_callback(f.flag, [this, field] { typed_.emplace_back(field, ""); }, f.help);
      } else if (f.is_list) {
        where
            ->add_option_function<std::vector<std::string>>(
                f.flag,
                [this, field](const std::vector<std::string>& values) {
                  std::string joined;  // the list field's set_text splits it again
                  for (auto& v : values) joined += (joined.empty() ? "" : "\n") + v;
                  typed_.emplace_back(field, joined);
                },
                f.help + " (" + f.rule + ")")
            ->expected(1, -1);
      } else {
        where
            ->add_option_function<std::string>(
                f.flag, [this, field](const std::string& value) { typed_.emplace_back(field, value); },
                f.help + " (" + f.rule + ")")
            ->default_str(shown(f.get(defaults)));
      }
    }
  }

  // The typed values over `target`. Throws Error naming the option for a value that is not one (the
  // training and feature options, whose rules the library applies to the whole config).
  void apply(T& target) const {
    for (auto& [field, value] : typed_) field->set_text(target, value);
  }

  // The runtime's: the typed values, then the table's rules, an Error naming the flag of the option at
  // fault (its key when this command has no flag for it), so that the command line speaks of what was typed.
  void apply_checked(T& target) const {
    for (auto& [field, value] : typed_) {
      try {
        field->set_text(target, value);
      } catch (const Error& e) {
        throw Error(flag_name(*field), e.reason());
      }
    }
    for (const options::Field<T>& f : table_->fields())
      if (const std::string why = f.problem(target); !why.empty())
        throw Error(offers(f) ? flag_name(f) : table_->subject() + " " + f.key, why);
  }

 private:
  bool offers(const options::Field<T>& f) const {
    return !f.flag.empty() && (only_.empty() || std::find(only_.begin(), only_.end(), f.key) != only_.end());
  }
  static std::string flag_name(const options::Field<T>& f) { return f.flag.substr(0, f.flag.find(',')); }

  static std::string shown(const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : v.is_null() ? "off" : v.dump();
  }

  const options::Table<T>* table_;
  std::vector<std::string> only_;
  std::vector<std::pair<const options::Field<T>*, std::string>> typed_;
};

}  // namespace genrenet::cli
