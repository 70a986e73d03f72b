// Reading requests: the upload and the query parameters of the service's POST routes.
#include "serve/requests.h"

#include <algorithm>
#include <cmath>

#include "common/text.h"

namespace genrenet::serve {

std::string json_text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void json_error(Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json_text({{"error", utf8_safe(message)}, {"status", status}}), "application/json");
}

double number_param(const Request& req, const char* key, double fallback) {
  if (!req.has_param(key)) return fallback;
  const std::string v = req.param(key);
  try {
    // Decimal notation only: std::stod would also take "0x1", "inf" and "nan".
    if (v.empty() || v.find_first_not_of("0123456789+-.eE") != std::string::npos) throw std::invalid_argument(v);
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    throw Error(key, "not a number: \"" + v + "\"");
  }
}

bool flag_param(const Request& req, const char* key, bool fallback) {
  if (!req.has_param(key)) return fallback;
  const std::string v = req.param(key);
  if (v == "1" || v == "true" || v == "yes" || v.empty()) return true;
  if (v == "0" || v == "false" || v == "no") return false;
  throw Error(key, "must be 0 or 1, got \"" + v + "\"");
}

bool take_upload(Request& req, Response& res, std::string& body, std::string& name) {
  if (is_multipart_form(req.content_type)) {
    std::vector<FormPart> parts;
    try {
      parts = parse_multipart(req.content_type, req.body);
    } catch (const Error& e) {
      json_error(res, 400, e.what());
      return false;
    }
    // The field "file", else the only part when it is a file (a text field alone is no upload).
    const FormPart* file = nullptr;
    for (const auto& part : parts)
      if (part.name == "file") file = &part;
    if (!file && parts.size() == 1 && !parts[0].filename.empty()) file = &parts[0];
    if (!file) {
      json_error(res, 400, "multipart upload without a \"file\" field");
      return false;
    }
    body.assign(file->content);
    if (!file->filename.empty()) name = file->filename;
    std::string().swap(req.body);  // the form's copy is not needed while the audio is worked on
  } else {
    body = std::move(req.body);
    if (req.has_param("name")) name = req.param("name");
  }
  name = utf8_safe(name);
  if (body.empty()) {
    json_error(res, 400, "empty upload: send an audio file as the body");
    return false;
  }
  return true;
}

ClassifyRequest classify_request(const Request& req, const UnknownOptions& service_rule,
                                 bool has_energy_threshold, std::size_t classes) {
  ClassifyRequest r;
  r.unknown = service_rule;
  r.top = classes;
  apply_params(unknown_options_table(), r.unknown, req);
  if (r.unknown.out_of_distribution && !has_energy_threshold)
    throw Error("reject_ood", "this model has no out-of-distribution threshold (it was not calibrated)");
  apply_params(window_options_table(), r.windows, req);
  r.spectrogram = flag_param(req, "spectrogram", false);
  const double t = number_param(req, "top", static_cast<double>(classes));
  if (!(t >= 1)) throw Error("top", "must be at least 1");
  if (t < static_cast<double>(classes)) r.top = static_cast<std::size_t>(t);  // (a huge t cast to size_t is undefined)
  return r;
}

ExplainRequest explain_request(const Request& req, const std::vector<std::string>& classes) {
  ExplainRequest r;
  ExplainOptions& o = r.options;
  if (req.has_param("genre")) {
    o.genre = req.param("genre");
    if (std::find(classes.begin(), classes.end(), o.genre) == classes.end())
      throw Error("genre", "\"" + utf8_safe(o.genre) + "\" is not one of the model's genres");
  }
  apply_params(window_options_table(), o.windows, req);
  r.png = flag_param(req, "png", true);
  return r;
}

std::vector<std::string> option_params() {
  std::vector<std::string> params;
  for (const auto& f : unknown_options_table().fields())
    if (!f.param.empty()) params.push_back(f.param);
  for (const auto& f : window_options_table().fields())
    if (!f.param.empty()) params.push_back(f.param);
  return params;
}

int similar_k(const Request& req) {
  const double v = number_param(req, "k", 10);
  if (!(v >= 1 && v <= 1000)) throw Error("k", "must be in [1, 1000]");
  return static_cast<int>(v);
}

int similar_row(const Request& req, int rows) {
  if (!req.has_param("row")) return -1;
  const double r = number_param(req, "row", -1);
  if (!(r >= 0 && r < rows && r == std::floor(r)))
    throw Error("row", "must be a row of the index, [0, " + std::to_string(rows) + ")");
  return static_cast<int>(r);
}

}  // namespace genrenet::serve
