// What a request to the HTTP service asks for, read from its query string and body without the model: the
// upload, the parameters of /v1/classify, /v1/explain and /v1/similar, and the JSON errors. Apart from the
// Classifier so that the fuzz target of the service's request handling (fuzz/fuzz_http.cpp) runs this very
// code behind the service's own transport.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>

#include "common/option_tables.h"
#include "serve/http_message.h"

namespace genrenet::serve {

// Answers carry what clients sent (file names, parameters), which need not be UTF-8: such bytes are written
// as \xHH where they enter (utf8_safe), and serialising replaces any left over, so that no answer fails to
// serialise (a non-UTF-8 name was a 500 "type_error.316" before).
std::string json_text(const nlohmann::json& j);
void json_error(Response& res, int status, const std::string& message);

// Query parameters: a malformed value is the client's error (an Error naming the parameter).
double number_param(const Request& req, const char* key, double fallback);
bool flag_param(const Request& req, const char* key, bool fallback);

// The service's side of the option tables (src/common/option_tables.h): every option of `table` that
// declares a query parameter is read from it when given (a switch as 0 or 1, a number in decimal), over
// `target`; then the table's rules. Errors name the parameter, as the CLI's name the flag.
template <class T>
void apply_params(const options::Table<T>& table, T& target, const Request& req) {
  for (const options::Field<T>& f : table.fields()) {
    if (f.param.empty() || !req.has_param(f.param)) continue;
    try {
      if (f.is_switch) f.set(target, flag_param(req, f.param.c_str(), false));
      else if (f.is_number) f.set(target, number_param(req, f.param.c_str(), 0));
      else f.set_text(target, req.param(f.param));
    } catch (const Error& e) {
      throw Error(f.param, e.reason());
    }
  }
  for (const options::Field<T>& f : table.fields())
    if (const std::string why = f.problem(target); !why.empty()) throw Error(f.param.empty() ? f.key : f.param, why);
}

// Every query parameter of the tables the service reads (for its documentation and tests).
std::vector<std::string> option_params();

// The upload of a POST (its bytes already held to the size limit and deadline by the transport): a
// multipart body's "file" part (else its only part with a file name) is the audio, its file name the name;
// anything else is the audio itself whatever its Content-Type (curl --data-binary sends a form type), named
// by ?name=. Returns false after answering the client (400: no file part, a malformed form, an empty upload).
bool take_upload(Request& req, Response& res, std::string& body, std::string& name);

// POST /v1/classify's parameters: min_confidence, reject_ood, windows, per_window, window, hop, spectrogram,
// top. Error naming the parameter when one is malformed or out of range.
struct ClassifyRequest {
  WindowOptions windows;
  UnknownOptions unknown;
  bool spectrogram = false;
  std::size_t top = 0;
};
ClassifyRequest classify_request(const Request& req, const UnknownOptions& service_rule,
                                 bool has_energy_threshold, std::size_t classes);

// POST /v1/explain's: genre (one of `classes`), window, hop, png.
struct ExplainRequest {
  ExplainOptions options;
  bool png = true;
};
ExplainRequest explain_request(const Request& req, const std::vector<std::string>& classes);

// POST /v1/similar's k, in [1, 1000].
int similar_k(const Request& req);

// GET /v1/similar's row=N, a row of an index of `rows` rows; -1 when the request gives none.
int similar_row(const Request& req, int rows);

}  // namespace genrenet::serve
