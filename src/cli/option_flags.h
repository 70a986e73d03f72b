// Command-line flags made from an option table (src/common/option_table.h): one flag per option that declares
// one, in --help sections by the options' groups, with the rule and the default shown. The values typed are
// applied, in the order typed, over whatever the options were before (defaults, a config file), so a flag
// overrides a file only where it was given.
#pragma once

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
  explicit OptionFlags(const options::Table<T>& table) : table_(&table) {}
  OptionFlags(const OptionFlags&) = delete;  // the flags' callbacks hold `this`
  OptionFlags& operator=(const OptionFlags&) = delete;

  void add_to(CLI::App* cmd) {
    const T defaults{};
    std::map<std::string, CLI::App*> groups;
    for (const options::Field<T>& f : table_->fields()) {
      if (f.flag.empty()) continue;
      CLI::App*& where = groups[f.group];
      if (!where) where = f.group.empty() ? cmd : cmd->add_option_group(f.group);
      const options::Field<T>* field = &f;
      if (f.is_switch) {
        where->add_flag_callback(f.flag, [this, field] { typed_.emplace_back(field, ""); }, f.help);
      } else {
        where
            ->add_option_function<std::string>(
                f.flag, [this, field](const std::string& value) { typed_.emplace_back(field, value); },
                f.help + " (" + f.rule + ")")
            ->default_str(shown(f.get(defaults)));
      }
    }
  }

  // The typed values over `target`. Throws Error naming the option for a value that is not one.
  void apply(T& target) const {
    for (auto& [field, value] : typed_) field->set_text(target, value);
  }

 private:
  static std::string shown(const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : v.is_null() ? "off" : v.dump();
  }

  const options::Table<T>* table_;
  std::vector<std::pair<const options::Field<T>*, std::string>> typed_;
};

}  // namespace genrenet::cli
