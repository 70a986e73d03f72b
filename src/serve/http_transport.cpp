// The HTTP/1.1 transport of the service (see http_transport.h for what it holds): one Connection per socket,
// all of its steps on one strand of the I/O threads, one request at a time (pipelined requests wait in the
// connection's buffer), deadlines kept by a timer that cancels the socket's operation when it fires.
#include "common/log.h"
#include "serve/http_transport.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <genrenet/genrenet.h>

#include "common/text.h"
#include "compute/allocator.h"
#include "serve/requests.h"

namespace genrenet::serve {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::beast::error_code;

namespace {

constexpr std::uint32_t kHeaderLimit = 8 * 1024;  // request line and headers
constexpr auto kLingerTime = std::chrono::seconds(2);  // reading (and dropping) what a refused client still sends

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

void busy(Response& res, int retry_after_s, const std::string& why) {
  res.set_header("Retry-After", std::to_string(retry_after_s));
  json_error(res, 503, "busy: " + why + "; retry later");
}

// The model work: `workers` threads of its own, and a queue of at most `queue` jobs waiting for them.
// Always the same threads: LibTorch's OpenMP keeps a team of threads for each thread that calls into it,
// spinning a while after each use; handed to any of 65 pool threads, the work made as many teams, and the
// spinning of the idle ones took CPU from the one at work (75 ms of CPU per request where 56 do).
class WorkQueue {
 public:
  using Job = std::shared_ptr<std::function<void()>>;
  WorkQueue(int workers, int queue) : capacity_(static_cast<std::size_t>(workers + queue)) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  // A job being done is finished; those still waiting are dropped.
  ~WorkQueue() {
    {
      std::lock_guard lock(m_);
      stopping_ = true;
      waiting_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  // False when every worker and queue place is taken.
  bool submit(Job job) {
    {
      std::lock_guard lock(m_);
      if (inside_ >= capacity_) return false;
      ++inside_;
      waiting_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }
  // Takes the job `id` (its address) out of the queue before a worker starts it; false when one has.
  bool withdraw(const void* id) {
    std::lock_guard lock(m_);
    const auto it = std::find_if(waiting_.begin(), waiting_.end(), [id](const Job& j) { return j.get() == id; });
    if (it == waiting_.end()) return false;
    waiting_.erase(it);
    --inside_;
    return true;
  }

 private:
  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
        if (stopping_) return;
        job = std::move(waiting_.front());
        waiting_.pop_front();
      }
      (*job)();
      bool idle;
      {
        std::lock_guard lock(m_);
        idle = --inside_ == 0;
      }
      // The process keeps freed memory for the next request (tune_allocator_for_batch_work); once no request
      // is left it gives it back, so that a burst does not leave the service a gigabyte larger for good.
      if (idle) release_idle_memory();
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Job> waiting_;
  std::size_t capacity_, inside_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

struct TransportState {
  TransportOptions options;
  std::vector<Route> routes;
  std::atomic<int> connections{0}, uploads{0};
  // Bytes that uploads being received may come to (each its Content-Length, or the body limit when chunked).
  std::atomic<std::size_t> upload_bytes{0};
  // Connections open per client address: one client cannot take every connection.
  std::mutex per_client_mutex;
  std::map<net::ip::address, int> per_client;
  int port = -1;
  net::io_context io;
  tcp::acceptor acceptor{io};
  net::steady_timer accept_retry{io};
  WorkQueue work;  // last: stopped first, while everything its jobs use still exists

  TransportState(TransportOptions o, std::vector<Route> r)
      : options(std::move(o)), routes(std::move(r)), work(options.workers, options.queue) {}

  // The route for a method and path; otherwise the status (404, or 405 with the methods in `allow`).
  const Route* find(const Request& req, int& status, std::string& allow) const {
    status = 404;
    for (const Route& r : routes) {
      if (r.path != req.path) continue;
      if (r.method == req.method) return &r;
      status = 405;
      allow += (allow.empty() ? "" : ", ") + r.method;
    }
    return nullptr;
  }

  void accept();
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, TransportState* server)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(server) {
    ++server_->connections;
    error_code ec;
    client_ = socket_.remote_endpoint(ec).address();
    std::lock_guard lock(server_->per_client_mutex);
    from_client_ = ++server_->per_client[client_];
  }
  ~Connection() {
    --server_->connections;
    end_upload();
    std::lock_guard lock(server_->per_client_mutex);
    if (--server_->per_client[client_] == 0) server_->per_client.erase(client_);
  }

  // Serves the connection's requests; one beyond max_connections, or beyond max_connections_per_client
  // from its address, is told so and closed.
  void start(bool too_many) {
    net::dispatch(socket_.get_executor(), [self = shared_from_this(), too_many] {
      if (too_many) return self->refuse_busy("too many connections are open");
      if (self->from_client_ > self->options().max_connections_per_client)
        return self->refuse_busy("too many connections from your address are open");
      self->read_header();
    });
  }

 private:
  const TransportOptions& options() const { return server_->options; }

  // Deadlines: when the timer fires first, the socket's pending operation is cancelled and its handler
  // sees timed_out_. Each arm() replaces the previous deadline.
  void arm(std::chrono::steady_clock::duration d) {
    timed_out_ = false;
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), generation = ++generation_](error_code ec) {
      if (ec || generation != self->generation_) return;
      self->timed_out_ = true;
      error_code ignored;
      self->socket_.cancel(ignored);
    });
  }
  void disarm() {
    ++generation_;
    timer_.cancel();
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // The parser checks a Content-Length against this as soon as the headers are read.
    parser_->body_limit(options().max_body_bytes);
    arm(std::chrono::seconds(options().read_timeout_s));
    http::async_read_header(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->on_header(ec);
    });
  }

  void on_header(error_code ec) {
    disarm();
    if (ec) {
      if (timed_out_) {
        // An idle keep-alive connection just ends; a request begun and not finished in time is told so.
        if (buffer_.size() == 0 && !parser_->got_some()) return close();
        return refuse(408, "request headers not complete within " + std::to_string(options().read_timeout_s) + " s");
      }
      if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == net::error::connection_reset)
        return close();
      if (ec == http::error::body_limit) return refuse(413, too_large());  // its Content-Length, before any body
      if (ec == http::error::header_limit)
        return refuse(431, "request line and headers longer than " + std::to_string(kHeaderLimit / 1024) + " KiB");
      return refuse(400, "bad request: " + ec.message());
    }
    auto& message = parser_->get();
    request_ = Request();
    request_.method = std::string(view(message.method_string()));
    parse_target(view(message.target()), request_);
    request_.content_type = std::string(view(message[http::field::content_type]));
    keep_alive_ = message.keep_alive();
    int status = 0;
    std::string allow;
    route_ = server_->find(request_, status, allow);
    const bool has_body = !parser_->is_done();
    if (!route_ || !route_->upload) {
      Response res;
      if (!route_) {
        if (status == 405) res.set_header("Allow", allow);
        json_error(res, status,
                   status == 405 ? "method not allowed: " + allow + " " + utf8_safe(request_.path) : "no such resource");
      } else if (has_body) {
        json_error(res, 413, "this resource takes no request body");
      } else {
        run_route(res);
      }
      res.close = res.close || has_body;  // a body not read would be taken for the next request
      return send(std::move(res));
    }
    // What the body may come to is reserved before any of it is read: its Content-Length, or the whole
    // limit when it comes chunked.
    const auto length = parser_->content_length();
    upload_reserved_ = length ? static_cast<std::size_t>(*length) : options().max_body_bytes;
    if (server_->uploads.fetch_add(1) >= options().max_uploads) {
      --server_->uploads;
      upload_reserved_ = 0;
      return refuse_busy("too many uploads are in progress");
    }
    counted_upload_ = true;
    if (server_->upload_bytes.fetch_add(upload_reserved_) + upload_reserved_ > options().max_upload_bytes_in_progress) {
      end_upload();
      return refuse_busy("the uploads in progress take all the memory the server gives them");
    }
    // A chunked body would grow its string by doubling, copying as it goes (a 64-MiB upload held ~110 MiB at
    // its peak): its room is reserved once instead, and only the pages the body fills become resident.
    if (!length) parser_->get().body().reserve(upload_reserved_);
    const auto expect = message[http::field::expect];
    // An HTTP/1.0 client cannot take an interim answer: its expectation is ignored (RFC 9110 10.1.1), and
    // the status line is HTTP/1.1 like every other answer.
    if (message.version() >= 11 && boost::beast::iequals(expect, "100-continue")) {
      // curl asks before sending a body above 1 MiB; told to go on, it sends at once (not after a second).
      continue_.emplace(http::status::continue_, 11);
      arm(std::chrono::seconds(options().write_timeout_s));
      return http::async_write(socket_, *continue_, [self = shared_from_this()](error_code ec, std::size_t) {
        self->disarm();
        if (ec) return self->close();
        self->read_body();
      });
    }
    read_body();
  }

  std::string too_large() const {
    const std::size_t b = options().max_body_bytes;
    return "upload too large: the limit is " +
           (b % (1u << 20) == 0 ? std::to_string(b >> 20) + " MiB" : std::to_string(b >> 10) + " KiB");
  }

  // The whole body within read_timeout_s: one deadline for all of it (a byte a second does not extend it).
  void read_body() {
    arm(std::chrono::seconds(options().read_timeout_s));
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) { self->on_body(ec); });
  }

  // The upload's place and its reserved bytes given back.
  void end_upload() {
    if (!counted_upload_) return;
    counted_upload_ = false;
    --server_->uploads;
    server_->upload_bytes -= upload_reserved_;
    upload_reserved_ = 0;
  }

  void on_body(error_code ec) {
    disarm();
    end_upload();
    if (ec) {
      if (timed_out_)
        return refuse(408, "upload too slow: the whole body must arrive within " + std::to_string(options().read_timeout_s) + " s");
      if (ec == http::error::body_limit) {
        // What was received is dropped now and its memory given back to the system, not kept by the
        // process until the next classification.
        parser_.reset();
        buffer_ = boost::beast::flat_buffer();
        if (server_->uploads == 0) release_idle_memory();
        return refuse(413, too_large());
      }
      if (ec == net::error::operation_aborted || ec == net::error::connection_reset) return close();
      return refuse(400, "the upload ended early or is malformed: " + ec.message());
    }
    request_.body = std::move(parser_->get().body());
    bytes_in_ = request_.body.size();
    // To a worker, or a place in the queue for at most queue_timeout_s; else busy.
    auto job = std::make_shared<std::function<void()>>([self = shared_from_this()] {
      Response res;
      self->run_route(res);
      net::post(self->socket_.get_executor(), [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
    });
    job_ = job.get();
    if (!server_->work.submit(std::move(job))) {
      Response res;
      busy(res, options().retry_after_s, "every worker and queue place is taken");
      return send(std::move(res));
    }
    timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(options().queue_timeout_s)));
    timer_.async_wait([self = shared_from_this(), generation = ++generation_](error_code ec) {
      if (ec || generation != self->generation_ || !self->server_->work.withdraw(self->job_)) return;
      Response res;
      busy(res, self->options().retry_after_s, "waited too long for a worker");
      self->send(std::move(res));
    });
  }

  // The route's handler (on this strand for a light route, on a worker thread for an upload); what escapes
  // it is a 500.
  void run_route(Response& res) {
    try {
      route_->handle(request_, res);
    } catch (const std::exception& e) {
      res = Response();
      json_error(res, 500, std::string("internal error: ") + e.what());
    } catch (...) {
      res = Response();
      json_error(res, 500, "internal error");
    }
  }

  // An answer the transport gives itself; the connection is closed after it (what else the client sent is
  // not read as a request).
  void refuse(int status, const std::string& message) {
    Response res;
    json_error(res, status, message);
    res.close = true;
    send(std::move(res));
  }

  // 503 with Retry-After, and the connection closed.
  void refuse_busy(const std::string& why) {
    Response res;
    busy(res, options().retry_after_s, why);
    res.close = true;
    send(std::move(res));
  }

  void send(Response r) {
    job_ = nullptr;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);  // HTTP/1.1 to a 1.0 client too (RFC 9110 6.2), with Connection: close unless it asked to keep it
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::server, "genrenet");
    res->set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) res->set(name, value);
    const bool keep = keep_alive_ && !r.close;
    res->keep_alive(keep);
    res->body() = std::move(r.body);
    res->prepare_payload();
    if (options().log_requests)
      logf(LogLevel::Note, "%s %s -> %d (%zu bytes in, %zu out)", utf8_safe(request_.method).c_str(),
           printable(request_.path).c_str(), r.status, bytes_in_, res->body().size());
    bytes_in_ = 0;
    arm(std::chrono::seconds(options().write_timeout_s));
    http::async_write(socket_, *res, [self = shared_from_this(), res, keep](error_code ec, std::size_t) {
      self->disarm();
      if (ec) return self->close();
      if (!keep) return self->linger();
      self->read_header();  // the next request, which may already be in the buffer
    });
  }

  // After an answer that ends the connection: no more writes, and what the client is still sending is read
  // and dropped for a moment, so that the kernel does not reset the connection (losing the answer) because
  // unread bytes remain when it is closed.
  void linger() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    if (!linger_started_) {
      linger_started_ = true;
      arm(kLingerTime);
    }
    socket_.async_read_some(net::buffer(drain_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->close();
      self->linger();
    });
  }

  void close() {
    disarm();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  TransportState* server_;
  boost::beast::flat_buffer buffer_;  // kept from request to request: pipelined bytes wait here
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  Request request_;
  const Route* route_ = nullptr;
  const void* job_ = nullptr;  // the address of an upload's job while it may wait for a worker (the job holds
                               // this connection, not the other way round)
  bool keep_alive_ = false, timed_out_ = false, counted_upload_ = false, linger_started_ = false;
  net::ip::address client_;
  int from_client_ = 0;
  std::size_t upload_reserved_ = 0;
  std::uint64_t generation_ = 0;
  std::size_t bytes_in_ = 0;
  std::array<char, 16384> drain_{};
};

}  // namespace

void TransportState::accept() {
  acceptor.async_accept(net::make_strand(io), [self = this](error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, say: try again shortly rather than spin.
      log(LogLevel::Error, "genrenet serve: accept failed: " + ec.message());
      self->accept_retry.expires_after(std::chrono::milliseconds(100));
      self->accept_retry.async_wait([self](error_code e) {
        if (!e) self->accept();
      });
      return;
    }
    // Answers go out at once: with Nagle's algorithm, an answer written while the previous one's last
    // segment was unacknowledged (pipelining, 100-continue) waited for the client's delayed ACK, 40 ms.
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto connection = std::make_shared<Connection>(std::move(socket), self);
    connection->start(self->connections > self->options.max_connections);
    self->accept();
  });
}

HttpTransport::HttpTransport(TransportOptions options, std::vector<Route> routes)
    : state_(std::make_unique<TransportState>(std::move(options), std::move(routes))) {}

// The state goes in member order: the worker threads first (a running request finishes; waiting ones are
// dropped), then the I/O context with every connection still in its handlers.
HttpTransport::~HttpTransport() { stop(); }

int HttpTransport::bind() {
  TransportState& s = *state_;
  const std::string where = s.options.host + ":" + std::to_string(s.options.port);
  error_code ec;
  const auto address = net::ip::make_address(s.options.host, ec);
  if (ec) throw Error(s.options.host, "not an IP address to listen on (" + ec.message() + ")");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(s.options.port));
  s.acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR alone: a quick restart works, and a port in use is an error (SO_REUSEPORT would let a second
  // server share, and steal, its connections).
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    s.acceptor.close(ignored);
    throw Error(where, "cannot listen here (" + ec.message() + ": in use, or not an address of this machine)");
  }
  s.port = s.acceptor.local_endpoint().port();
  return s.port;
}

int HttpTransport::port() const { return state_->port; }

int HttpTransport::open_connections() const { return state_->connections; }

void HttpTransport::run() {
  if (!state_->acceptor.is_open()) bind();
  state_->accept();
  std::vector<std::thread> more;
  for (int i = 1; i < state_->options.io_threads; ++i) more.emplace_back([this] { state_->io.run(); });
  state_->io.run();
  for (auto& t : more) t.join();
}

void HttpTransport::stop() { state_->io.stop(); }

}  // namespace genrenet::serve
