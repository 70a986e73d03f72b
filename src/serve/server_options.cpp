// The service's options, declared once (src/common/option_table.h): `genrenet serve`'s flags and
// ServerOptions::validate are made from these rows.
#include <cmath>

#include <genrenet/serve.h>

#include "common/option_tables.h"

namespace genrenet {
namespace {

using options::Field;

// A byte count that people give in MiB (the flags' unit).
Field<ServerOptions> mebibytes(std::string key, std::size_t ServerOptions::*bytes, options::Interval range, std::string help,
                               std::string flag) {
  Field<ServerOptions> f;
  f.key = std::move(key);
  f.flag = std::move(flag);
  f.help = std::move(help);
  f.rule = "in " + range.text() + " MiB";
  f.is_number = true;
  const std::string who = "server option " + f.key;
  auto set_mib = [bytes, who](ServerOptions& o, double mib) {
    if (!std::isfinite(mib) || mib < 0 || mib > 1 << 20) throw Error(who, "not a size in MiB: " + std::to_string(mib));
    o.*bytes = static_cast<std::size_t>(mib * (1 << 20));
  };
  f.get = [bytes](const ServerOptions& o) { return options::json(static_cast<double>(o.*bytes) / (1 << 20)); };
  f.set = [set_mib, who](ServerOptions& o, const options::json& v) { set_mib(o, json_finite<double>(v, who)); };
  f.set_text = [set_mib, who](ServerOptions& o, const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size()) throw Error(who, "not a number: \"" + s + "\"");
    set_mib(o, v);
  };
  f.problem = [bytes, range, rule = f.rule](const ServerOptions& o) {
    const double mib = static_cast<double>(o.*bytes) / (1 << 20);
    return range.contains(mib) ? std::string() : "must be " + rule + ", got " + options::json(mib).dump();
  };
  return f;
}

// Reading and writing share one deadline on the command line.
Field<ServerOptions> timeout() {
  Field<ServerOptions> f;
  f.key = "timeout";
  f.flag = "--timeout";
  f.help = "Seconds for a request's headers, again for an upload's whole body, and for an answer";
  f.rule = "in [1, 3600]";
  f.is_number = true;
  const std::string who = "server option timeout";
  auto set = [](ServerOptions& o, int s) { o.read_timeout_s = o.write_timeout_s = s; };
  f.get = [](const ServerOptions& o) { return options::json(o.read_timeout_s); };
  f.set = [set, who](ServerOptions& o, const options::json& v) { set(o, json_whole<int>(v, who)); };
  f.set_text = [set, who](ServerOptions& o, const std::string& s) {
    try {
      size_t used = 0;
      const int v = std::stoi(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
      set(o, v);
    } catch (const std::exception&) {
      throw Error(who, "not a whole number in range: \"" + s + "\"");
    }
  };
  f.problem = [](const ServerOptions& o) {
    for (int s : {o.read_timeout_s, o.write_timeout_s})
      if (s < 1 || s > 3600) return "must be in [1, 3600], got " + std::to_string(s);
    return std::string();
  };
  return f;
}

}  // namespace

const options::Table<ServerOptions>& server_options_table() {
  static const auto table =
      options::Table<ServerOptions>("server option", "Service")
          .text("host", &ServerOptions::host, {}, "Address to listen on (0.0.0.0 exposes it to the network)", "--host")
          .integer("port", &ServerOptions::port, {0, 65535}, "Port (0: any free one, printed)", "--port")
          .integer("workers", &ServerOptions::workers, {1, 64}, "Classifications at once", "--workers")
          .integer("queue", &ServerOptions::queue, {0, 1024}, "Requests that may wait for a worker; more get 503", "--queue")
          .number("queue_timeout", &ServerOptions::queue_timeout_s, {0, 3600, true, false},
                  "Seconds a request may wait for a worker", "--queue-timeout")
          .integer("retry_after", &ServerOptions::retry_after_s, {1, 3600}, "The Retry-After of a 503, in seconds")
          .custom(mebibytes("max_body_mb", &ServerOptions::max_body_bytes, {1.0 / 1024, 1 << 20}, "Largest upload in MiB",
                            "--max-body-mb"))
          .number("max_seconds", &ServerOptions::max_audio_seconds, {0, 24 * 3600, true, false},
                  "Longest audio accepted, in seconds", "--max-seconds")
          .custom(timeout())
          .integer("max_uploads", &ServerOptions::max_uploads, {0, 100000},
                   "Uploads received at once, more get 503 (0: workers + queue + 64)", "--max-uploads")
          .integer("max_connections", &ServerOptions::max_connections, {1, 100000}, "Connections open at once, more get 503",
                   "--max-connections")
          .integer("max_connections_per_client", &ServerOptions::max_connections_per_client, {1, 100000},
                   "Connections open at once from one client address, more get 503", "--max-connections-per-client")
          .custom(mebibytes("max_upload_memory_mb", &ServerOptions::max_upload_memory_bytes, {1.0 / 1024, 1 << 20},
                            "Memory for the uploads being received, together in MiB (a chunked one counts as "
                            "max_body_mb); more get 503",
                            "--max-upload-memory-mb"))
          .check([](const ServerOptions& o) {
            return o.max_upload_memory_bytes >= o.max_body_bytes ? std::string()
                                                                 : "must be at least max_body_mb (one upload of the largest size)";
          })
          .boolean("log_requests", &ServerOptions::log_requests, "No line per request", "--quiet", false)
          .text("index", &ServerOptions::index, {},
                "A similarity index of this model (genrenet index build): POST /v1/similar and the page's \"sounds like\" list",
                "--index");
  return table;
}

void ServerOptions::validate() const { server_options_table().validate(*this); }

}  // namespace genrenet
