// Reading requests: the upload and the query parameters of the service's POST routes.
#include "serve/requests.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/text.h"

namespace genrenet::serve {

std::string json_text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void json_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json_text({{"error", utf8_safe(message)}, {"status", status}}), "application/json");
}

double number_param(const httplib::Request& req, const char* key, double fallback) {
  if (!req.has_param(key)) return fallback;
  const std::string v = req.get_param_value(key);
  try {
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    throw Error(key, "not a number: \"" + v + "\"");
  }
}

bool flag_param(const httplib::Request& req, const char* key, bool fallback) {
  if (!req.has_param(key)) return fallback;
  const std::string v = req.get_param_value(key);
  if (v == "1" || v == "true" || v == "yes" || v.empty()) return true;
  if (v == "0" || v == "false" || v == "no") return false;
  throw Error(key, "must be 0 or 1, got \"" + v + "\"");
}

bool read_upload(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                 const UploadLimits& limits, std::string& body, std::string& name) {
  const size_t limit = limits.max_body_bytes;
  auto refuse = [&](int status, const std::string& message) {
    // The rest of the body is not read: the client is told to close (httplib itself keeps the connection
    // until its keep-alive timeout, 5 s, and answers any leftover bytes with a 400).
    res.set_header("Connection", "close");
    json_error(res, status, message);
    return false;
  };
  const std::string too_large = "upload too large: the limit is " + std::to_string(limit >> 20) + " MiB";
  if (req.has_header("Content-Length")) {
    // Refused at once, before any of the body is read (a body of 200 MiB used to be read, then refused).
    const std::string v = req.get_header_value("Content-Length");
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
      return refuse(400, "bad Content-Length: \"" + utf8_safe(v) + "\"");
    if (std::stoull(v) > limit) return refuse(413, too_large);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limits.read_timeout_s);
  size_t received = 0;
  int failure = 0;
  auto accept = [&](std::string& into, const char* data, size_t n) {
    received += n;
    if (received > limit) failure = 413;
    else if (std::chrono::steady_clock::now() > deadline) failure = 408;
    if (failure) return false;
    into.append(data, n);
    return true;
  };
  bool complete;
  httplib::MultipartFormDataItems parts;
  if (req.is_multipart_form_data()) {
    complete = reader([&](const httplib::MultipartFormData& part) { parts.push_back(part); return parts.size() <= 64; },
                      [&](const char* data, size_t n) { return accept(parts.back().content, data, n); });
  } else {
    // Anything that is not multipart is the audio itself, whatever its Content-Type says (curl's
    // --data-binary sends application/x-www-form-urlencoded).
    complete = reader([&](const char* data, size_t n) { return accept(body, data, n); });
  }
  if (failure == 413) return refuse(413, too_large);
  if (failure == 408)
    return refuse(408, "upload too slow: the whole body must arrive within " + std::to_string(limits.read_timeout_s) + " s");
  if (!complete) return refuse(400, parts.size() > 64 ? "too many multipart parts (at most 64)" : "the upload ended early or is malformed");
  if (req.is_multipart_form_data()) {
    // The field "file", else the only part when it is a file (a text field alone is no upload).
    httplib::MultipartFormData* file = nullptr;
    for (auto& part : parts)
      if (part.name == "file") file = &part;
    if (!file && parts.size() == 1 && !parts[0].filename.empty()) file = &parts[0];
    if (!file) {
      json_error(res, 400, "multipart upload without a \"file\" field");
      return false;
    }
    body = std::move(file->content);
    if (!file->filename.empty()) name = file->filename;
  } else if (req.has_param("name")) {
    name = req.get_param_value("name");
  }
  name = utf8_safe(name);
  if (body.empty()) {
    json_error(res, 400, "empty upload: send an audio file as the body");
    return false;
  }
  return true;
}

ClassifyRequest classify_request(const httplib::Request& req, const UnknownOptions& service_rule,
                                 bool has_energy_threshold, std::size_t classes) {
  ClassifyRequest r;
  r.unknown = service_rule;
  r.top = classes;
  UnknownOptions& u = r.unknown;
  u.min_confidence = number_param(req, "min_confidence", u.min_confidence);
  u.out_of_distribution = flag_param(req, "reject_ood", u.out_of_distribution);
  u.validate();
  if (u.out_of_distribution && !has_energy_threshold)
    throw Error("reject_ood", "this model has no out-of-distribution threshold (it was not calibrated)");
  WindowOptions& w = r.windows;
  w.windows = flag_param(req, "windows", true);
  w.per_window = flag_param(req, "per_window", false);
  w.window_seconds = number_param(req, "window", w.window_seconds);
  w.hop_seconds = number_param(req, "hop", w.hop_seconds);
  r.spectrogram = flag_param(req, "spectrogram", false);
  const double t = number_param(req, "top", static_cast<double>(classes));
  if (!(t >= 1)) throw Error("top", "must be at least 1");
  if (t < static_cast<double>(classes)) r.top = static_cast<std::size_t>(t);  // (a huge t cast to size_t is undefined)
  w.validate();
  return r;
}

ExplainRequest explain_request(const httplib::Request& req, const std::vector<std::string>& classes) {
  ExplainRequest r;
  ExplainOptions& o = r.options;
  if (req.has_param("genre")) {
    o.genre = req.get_param_value("genre");
    if (std::find(classes.begin(), classes.end(), o.genre) == classes.end())
      throw Error("genre", "\"" + utf8_safe(o.genre) + "\" is not one of the model's genres");
  }
  o.windows.window_seconds = number_param(req, "window", o.windows.window_seconds);
  o.windows.hop_seconds = number_param(req, "hop", o.windows.hop_seconds);
  r.png = flag_param(req, "png", true);
  o.windows.validate();
  return r;
}

int similar_k(const httplib::Request& req) {
  const double v = number_param(req, "k", 10);
  if (!(v >= 1 && v <= 1000)) throw Error("k", "must be in [1, 1000]");
  return static_cast<int>(v);
}

int similar_row(const httplib::Request& req, int rows) {
  if (!req.has_param("row")) return -1;
  const double r = number_param(req, "row", -1);
  if (!(r >= 0 && r < rows && r == std::floor(r)))
    throw Error("row", "must be a row of the index, [0, " + std::to_string(rows) + ")");
  return static_cast<int>(r);
}

}  // namespace genrenet::serve
