// One HTTP request as the service's handlers see it (its bytes already read and held to the limits by the
// transport, src/serve/http_transport.cpp) and the answer they give; the query string and multipart/form-data
// bodies read from it. Independent of the HTTP library, so that the handlers' parsing is fuzzed as it is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace genrenet::serve {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', as sent
  std::vector<std::pair<std::string, std::string>> params;  // the query string, percent-decoded, in order
  std::string content_type;
  std::string body;

  bool has_param(std::string_view key) const;
  std::string param(std::string_view key) const;  // the first value of `key`; "" when absent
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond Content-Type and Content-Length
  bool close = false;  // close the connection after this answer

  void set_content(std::string content, std::string type) {
    body = std::move(content);
    content_type = std::move(type);
  }
  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// The query string of `target` ("/path?a=1&b=%FF") into `request.path` and `request.params`: '+' is a space,
// %HH a byte (a malformed escape is kept as it is), a key without '=' has the value "".
void parse_target(std::string_view target, Request& request);

// One part of a multipart/form-data body, pointing into it.
struct FormPart {
  std::string name, filename;  // from Content-Disposition; filename "" for a text field
  std::string_view content;
};

// The parts of a multipart/form-data `body` whose Content-Type header is `content_type` (RFC 7578 / 2046:
// the boundary from the type's parameter, each part's Content-Disposition). Error (BadInput) when the body is
// not such a form or has more than `max_parts` parts.
std::vector<FormPart> parse_multipart(std::string_view content_type, std::string_view body, std::size_t max_parts = 64);

// Whether `content_type` says multipart/form-data (case-insensitive, parameters aside).
bool is_multipart_form(std::string_view content_type);

}  // namespace genrenet::serve
