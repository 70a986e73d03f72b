#include <fstream>
#include <sstream>

#include <genrenet/compute.h>

#include "cli/commands.h"

namespace genrenet::cli {

int default_threads() { return resolve_threads(0); }

void FeatureFlags::add_to(CLI::App* cmd) {
  cmd->add_option("--feature-config", config_file, "JSON file of feature options (as stored in a model); flags override it")
      ->check(CLI::ExistingFile);
  flags.add_to(cmd);
}

FeatureOptions read_feature_config(const std::string& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return FeatureOptions::from_json(ss.str());
  } catch (const Error& e) {
    throw Error(file, e.what());  // say which file holds the bad option
  }
}

FeatureOptions FeatureFlags::resolve(const FeatureOptions& base) const {
  FeatureOptions o = config_file.empty() ? base : read_feature_config(config_file);
  flags.apply(o);
  o.validate();
  return o;
}

}  // namespace genrenet::cli
