// The query string and multipart/form-data bodies of a request.
#include "serve/http_message.h"

#include <algorithm>
#include <functional>

#include <genrenet/genrenet.h>

namespace genrenet::serve {
namespace {

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The parameters of a header value after its first ';' ("form-data; name=\"file\"; filename=x.wav"): names
// lowercased, quoted strings unquoted (a backslash escapes the next character).
std::vector<std::pair<std::string, std::string>> header_parameters(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;  // past ';'
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    const size_t eq = value.find_first_of("=;", i);
    if (eq == std::string_view::npos || value[eq] == ';') {  // a parameter without a value
      i = eq;
      continue;
    }
    std::string name(trim(value.substr(i, eq - i)));
    std::transform(name.begin(), name.end(), name.begin(), ascii_lower);
    std::string v;
    i = eq + 1;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    if (i < value.size() && value[i] == '"') {
      for (++i; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        v += value[i];
      }
      i = value.find(';', i);
    } else {
      const size_t end = value.find(';', i);
      v = trim(value.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
      i = end;
    }
    out.emplace_back(std::move(name), std::move(v));
  }
  return out;
}

std::string_view media_type(std::string_view content_type) { return trim(content_type.substr(0, content_type.find(';'))); }

}  // namespace

bool Request::has_param(std::string_view key) const {
  return std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == key; });
}

std::string Request::param(std::string_view key) const {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return {};
}

void parse_target(std::string_view target, Request& request) {
  const size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  request.params.clear();
  if (q == std::string_view::npos) return;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      request.params.emplace_back(percent_decoded(item.substr(0, eq)),
                                  eq == std::string_view::npos ? std::string() : percent_decoded(item.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

bool is_multipart_form(std::string_view content_type) { return iequals(media_type(content_type), "multipart/form-data"); }

std::vector<FormPart> parse_multipart(std::string_view content_type, std::string_view body, std::size_t max_parts) {
  std::string boundary;
  for (auto& [name, value] : header_parameters(content_type))
    if (name == "boundary") boundary = value;
  if (boundary.empty() || boundary.size() > 70)
    throw Error("multipart upload", "its Content-Type has no boundary (or one longer than 70 characters)");
  // Each part starts after CRLF "--boundary"; the first may start the body. Boyer-Moore: a body made to
  // resemble the delimiter everywhere costs a linear search, not one per byte times the boundary's length.
  const std::string delimiter = "\r\n--" + boundary;
  const std::boyer_moore_searcher find_delimiter(delimiter.begin(), delimiter.end());
  auto next_delimiter = [&](size_t from) -> size_t {
    const auto it = std::search(body.begin() + static_cast<std::ptrdiff_t>(from), body.end(), find_delimiter);
    return it == body.end() ? std::string_view::npos : static_cast<size_t>(it - body.begin());
  };
  // The body starts with "--boundary", or with a preamble before CRLF "--boundary".
  const std::string_view dash_boundary = std::string_view(delimiter).substr(2);
  size_t pos = dash_boundary.size();
  if (!body.starts_with(dash_boundary)) {
    pos = next_delimiter(0);
    if (pos == std::string_view::npos) throw Error("multipart upload", "no part starts with its boundary");
    pos += delimiter.size();
  }
  std::vector<FormPart> parts;
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;  // transport padding
    if (body.substr(pos, 2) != "\r\n") throw Error("multipart upload", "a boundary is not followed by a line end");
    pos += 2;
    if (parts.size() == max_parts) throw Error("multipart upload", "has too many parts (at most " + std::to_string(max_parts) + ")");
    FormPart part;
    // The part's header lines, up to an empty line (none at all is allowed: then it starts with CRLF).
    for (;;) {
      const size_t eol = body.find("\r\n", pos);
      if (eol == std::string_view::npos) throw Error("multipart upload", "ends inside a part's headers");
      const std::string_view line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), "content-disposition")) {
        for (auto& [name, value] : header_parameters(line.substr(colon + 1))) {
          if (name == "name") part.name = value;
          if (name == "filename") part.filename = value;
        }
      }
    }
    const size_t end = next_delimiter(pos);
    if (end == std::string_view::npos) throw Error("multipart upload", "ends early: a part is not closed by its boundary");
    part.content = body.substr(pos, end - pos);
    parts.push_back(std::move(part));
    pos = end + delimiter.size();
  }
}

}  // namespace genrenet::serve
