#include "io/toml_json.h"

#include <sstream>

#include <toml++/toml.h>

#include <genrenet/genrenet.h>

namespace genrenet::io {

std::string toml_as_json(const std::string& text, const std::string& name) {
  try {
    std::stringstream js;
    js << toml::json_formatter{toml::parse(text, name)};
    return js.str();
  } catch (const toml::parse_error& e) {
    throw Error(name, "line " + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
}

}  // namespace genrenet::io
