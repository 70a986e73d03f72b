// File names and messages are bytes, not necessarily UTF-8 (Linux file names may hold any byte but '/' and
// NUL) and may carry terminal escape sequences. These make them safe to print without losing the bytes.
#pragma once

#include <string>
#include <string_view>

namespace genrenet {

// `s` with every byte that is not part of valid UTF-8 written as the four characters \xHH (and a backslash
// as \\ when `escape_backslash`, so that the result can be read back unambiguously): always valid UTF-8, for
// JSON and CSV.
std::string utf8_safe(std::string_view s, bool escape_backslash = false);

// utf8_safe, and control characters (C0, DEL, C1: what makes a terminal move, recolour or retitle) written
// as \xHH too: for tables on a terminal.
std::string printable(std::string_view s);

}  // namespace genrenet
