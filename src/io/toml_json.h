// TOML read as the same JSON text, so that a file may be either with one set of names and checks (training
// configs, genre maps). Needs toml++ (Debian's libtomlplusplus-dev) in the .cpp only.
#pragma once

#include <string>

namespace genrenet::io {

// `text`, TOML, as JSON text; an Error naming `name` and the line for text that is not TOML.
std::string toml_as_json(const std::string& text, const std::string& name);

}  // namespace genrenet::io
