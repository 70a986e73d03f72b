#include "common/text.h"

#include <cstdint>
#include <cstdio>

namespace genrenet {
namespace {

// The length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 when s[i] does not start one.
size_t utf8_sequence(std::string_view s, size_t i, std::uint32_t* code_point) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) {
    *code_point = c;
    return 1;
  }
  size_t n;
  std::uint32_t cp, min;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and values past Unicode are not valid UTF-8.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *code_point = cp;
  return n;
}

void append_hex(std::string& out, unsigned char c) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "\\x%02X", c);
  out += buf;
}

std::string escape(std::string_view s, bool escape_backslash, bool escape_controls) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const size_t n = utf8_sequence(s, i, &cp);
    const bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
    if (n == 0) {
      append_hex(out, static_cast<unsigned char>(s[i]));
      ++i;
    } else if (escape_controls && control) {
      if (cp <= 0xFF && n == 1) append_hex(out, static_cast<unsigned char>(cp));
      else for (size_t k = 0; k < n; ++k) append_hex(out, static_cast<unsigned char>(s[i + k]));
      i += n;
    } else if (escape_backslash && cp == '\\') {
      out += "\\\\";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace

std::string utf8_safe(std::string_view s, bool escape_backslash) { return escape(s, escape_backslash, false); }

std::string printable(std::string_view s) { return escape(s, false, true); }

}  // namespace genrenet
