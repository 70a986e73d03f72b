// The HTTP service in-process on 127.0.0.1: endpoints, answers equal to the C++ API's, every kind of bad
// upload as a JSON 4xx, the busy answer (503 + Retry-After), and a server that keeps serving after all that.
#include <httplib.h>

#include <chrono>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/serve.h>

#include "raw_connection.h"
#include "small_model.h"
#include "test_util.h"

namespace genrenet {
namespace {

std::string wav_bytes(const std::filesystem::path& dir, double seconds, int rate, unsigned seed) {
  const auto p = dir / ("clip-" + std::to_string(seed) + ".wav");
  write_wav(p, synthesize_example_clip(seconds, rate, seed), rate);
  return test::read_bytes(p);
}

class Serving {
 public:
  Serving(const std::filesystem::path& model, ServerOptions so) {
    so.port = 0;
    so.log_requests = false;
    ClassifierOptions co;
    co.precision = "fp32";
    server_ = std::make_unique<HttpServer>(model, co, so);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~Serving() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }

 private:
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

const char* kOctets = "application/octet-stream";

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { model_ = test::make_small_model_file(dir_.path()); }
  test::TempDir dir_;
  std::filesystem::path model_;
};

TEST_F(ServeTest, EndpointsAndAnswersMatchTheApi) {
  Serving s(model_, {});
  auto c = s.client();
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["status"], "ok");
  r = c.Get("/v1/model");
  ASSERT_TRUE(r);
  auto m = nlohmann::json::parse(r->body);
  EXPECT_EQ(m["architecture"], "resnet18");
  EXPECT_EQ(m["classes"].size(), 4u);
  EXPECT_EQ(m["input"]["n_mels"], 48);
  EXPECT_EQ(m["features"]["sample_rate"], 8000);
  r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("<title>genrenet"), std::string::npos);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
  r = c.Get("/nowhere");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(nlohmann::json::parse(r->body)["status"], 404);

  const std::string wav = wav_bytes(dir_.path(), 25.0, 16000, 3);
  WindowOptions w;
  w.window_seconds = 8;
  w.hop_seconds = 4;
  ClassifierOptions co;
  co.precision = "fp32";
  Classification expected = Classifier(model_, co).classify_file(dir_ / "clip-3.wav", w);
  r = c.Post("/v1/classify?window=8&hop=4&per_window=1&top=2", wav, kOctets);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["genre"], expected.ranked[0].genre);
  ASSERT_EQ(j["ranked"].size(), 2u);
  EXPECT_NEAR(j["ranked"][0]["probability"].get<double>(), expected.ranked[0].probability, 1e-6);
  EXPECT_EQ(j["windows"], expected.window_count);
  EXPECT_EQ(j["per_window"].size(), static_cast<size_t>(expected.window_count));
  EXPECT_NEAR(j["duration_s"].get<double>(), 25.0, 0.01);
  EXPECT_GT(j["seconds"].get<double>(), 0);

  // Multipart, as a browser form sends it, with the spectrogram picture.
  httplib::MultipartFormDataItems items = {{"file", wav, "song.wav", "audio/wav"}};
  r = c.Post("/v1/classify?spectrogram=1", items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["ranked"].size(), 4u);
  EXPECT_EQ(j["spectrogram_png"].get<std::string>().rfind("iVBORw0KGgo", 0), 0u);  // base64 of the PNG signature
  EXPECT_FALSE(j.contains("per_window"));
}

// POST /v1/explain: the C++ API's explanation as JSON, with the picture unless png=0.
TEST_F(ServeTest, ExplainAnswersAsTheApiDoes) {
  Serving s(model_, {});
  auto c = s.client();
  const std::string wav = wav_bytes(dir_.path(), 25.0, 16000, 4);
  ClassifierOptions co;
  co.precision = "fp32";
  ExplainOptions o;
  o.windows.window_seconds = 8;
  o.windows.hop_seconds = 4;
  const Explanation expected = Classifier(model_, co).explain_file(dir_ / "clip-4.wav", o);
  auto r = c.Post("/v1/explain?window=8&hop=4", wav, kOctets);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["genre"], expected.genre);
  EXPECT_NEAR(j["probability"].get<double>(), expected.probability, 1e-6);
  ASSERT_EQ(j["windows"].size(), expected.windows.size());
  EXPECT_NEAR(j["windows"][2]["band_mass"][0].get<double>(), expected.windows[2].band_mass[0], 1e-6);
  EXPECT_EQ(j["explanation_png"].get<std::string>().rfind("iVBORw0KGgo", 0), 0u);
  r = c.Post("/v1/explain?png=0&genre=" + expected.genre, wav, kOctets);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(nlohmann::json::parse(r->body).contains("explanation_png"));
  r = c.Post("/v1/explain?genre=polka", wav, kOctets);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("polka"), std::string::npos);
  r = c.Post("/v1/explain", std::string("not audio at all"), kOctets);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  r = c.Get("/v1/explain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
}

TEST_F(ServeTest, BadUploadsAreJsonClientErrorsAndTheServerGoesOn) {
  ServerOptions so;
  so.max_body_bytes = 256 * 1024;
  so.max_audio_seconds = 12;
  Serving s(model_, so);
  auto c = s.client();
  auto expect_error = [&](const httplib::Result& r, int status, const std::string& words) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    auto j = nlohmann::json::parse(r->body);
    EXPECT_EQ(j["status"], status);
    EXPECT_NE(j["error"].get<std::string>().find(words), std::string::npos) << r->body;
  };
  expect_error(c.Post("/v1/classify", "", kOctets), 400, "empty upload");
  expect_error(c.Post("/v1/classify?name=notes.txt", "just some text, not audio", kOctets), 422, "notes.txt: not a readable audio file");
  const std::string wav = wav_bytes(dir_.path(), 4.0, 8000, 1);
  expect_error(c.Post("/v1/classify", wav.substr(0, wav.size() / 2), kOctets), 422, "truncated");
  expect_error(c.Post("/v1/classify", wav_bytes(dir_.path(), 14.0, 8000, 2), kOctets), 413, "too long");
  expect_error(c.Post("/v1/classify", std::string(300 * 1024, 'x'), kOctets), 413, "upload too large");
  // curl --data-binary sends a form Content-Type: the body is the audio all the same.
  auto form = c.Post("/v1/classify", wav, "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 200) << form->body;
  expect_error(c.Post("/v1/classify?hop=0.1", wav, kOctets), 400, "at most 64 windows overlap");
  expect_error(c.Post("/v1/classify?top=zero", wav, kOctets), 400, "top: not a number");
  expect_error(c.Post("/v1/classify?hop=-1", wav, kOctets), 400, "hop: must be in (0, 900]");
  expect_error(c.Post("/v1/classify?windows=maybe", wav, kOctets), 400, "windows: must be 0 or 1");
  httplib::MultipartFormDataItems wrong_field = {{"a", "x", "a.wav", "audio/wav"}, {"b", "y", "b.wav", "audio/wav"}};
  expect_error(c.Post("/v1/classify", wrong_field), 400, "\"file\" field");
  httplib::MultipartFormDataItems text_only = {{"note", "just a text field", "", ""}};
  expect_error(c.Post("/v1/classify", text_only), 400, "\"file\" field");
  auto get = c.Get("/v1/classify");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  // Names and parameters that are not UTF-8 are answered as JSON with the bytes escaped (a 500 before).
  expect_error(c.Post("/v1/classify?name=%FFnotes", "not audio", kOctets), 422, "\\xFFnotes: not a readable audio file");
  expect_error(c.Post("/v1/classify?top=%FF", wav, kOctets), 400, "top: not a number");
  // Decimal numbers only (std::stod took hex and inf: row=0x1 was row 1).
  for (const char* n : {"0x2", "inf", "nan", "1e", ""}) expect_error(c.Post(std::string("/v1/classify?top=") + n, wav, kOctets), 400, "top: not a number");
  httplib::MultipartFormDataItems odd_name = {{"file", "not audio", "caf\xE9.wav", "audio/wav"}};
  expect_error(c.Post("/v1/classify", odd_name), 422, "caf\\xE9.wav");
  // A huge top is all the genres, not none.
  auto all = c.Post("/v1/classify?top=99999999999999999999", wav, kOctets);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  EXPECT_EQ(nlohmann::json::parse(all->body)["ranked"].size(), 4u) << all->body;
  // Still healthy, and still right.
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Post("/v1/classify", wav, kOctets);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

using test::RawConnection;
using test::seconds_since;

TEST_F(ServeTest, LimitsHoldForEveryWayOfSending) {
  ServerOptions so;
  so.max_body_bytes = 256 * 1024;
  so.read_timeout_s = 3;
  Serving s(model_, so);
  const std::string head = "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n";
  {
    // A chunked body is held to the limit as it arrives (8 MiB used to be read whole, then refused as 422).
    RawConnection chunked(s.port());
    ASSERT_TRUE(chunked.connected());
    chunked.send(head + "Transfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    for (int i = 0; i < 128 && chunked.send(chunk); ++i) {
    }
    auto [status, head, body] = chunked.answer();
    EXPECT_EQ(status, 413) << body;
    EXPECT_NE(body.find("upload too large"), std::string::npos) << body;
  }
  for (const std::string& length : {"209715200", "99999999999999999999999", "-1"}) {
    // A length over the limit is refused at once, before any body; a malformed one is a 400.
    RawConnection lying(s.port());
    const auto t0 = std::chrono::steady_clock::now();
    lying.send(head + "Content-Length: " + length + "\r\n\r\n");
    auto [status, head, body] = lying.answer();
    EXPECT_EQ(status, length == "209715200" ? 413 : 400) << length << ": " << body;
    EXPECT_LT(seconds_since(t0), 2.0) << length << ": waited for a body";
  }
  {
    // A byte at a time: the whole body has --timeout seconds (each byte used to restart the clock).
    RawConnection slow(s.port());
    const auto t0 = std::chrono::steady_clock::now();
    slow.send(head + "Content-Length: 1000\r\n\r\n");
    std::future<test::RawAnswer> answer = std::async(std::launch::async, [&] { return slow.answer(); });
    for (int i = 0; i < 40 && answer.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready; ++i)
      slow.send("x");
    auto [status, head, body] = answer.get();
    EXPECT_EQ(status, 408) << body;
    EXPECT_LT(seconds_since(t0), 6.0);
  }
  {
    // Slow clients, more than workers + queue + 4 of them, do not keep /healthz waiting.
    std::vector<std::unique_ptr<RawConnection>> stalled;
    for (int i = 0; i < 16; ++i) {
      stalled.push_back(std::make_unique<RawConnection>(s.port()));
      stalled.back()->send(head + "Content-Length: 1000\r\n\r\nx");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto c = s.client();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(seconds_since(t0), 1.0);
  }
}

// Four requests in one write, as a pipelining client sends them: four answers, in order (cpp-httplib, the
// server's HTTP layer before, answered the first only).
TEST_F(ServeTest, PipelinedRequestsAreAllAnswered) {
  Serving s(model_, {});
  const std::string wav = wav_bytes(dir_.path(), 4.0, 8000, 5);
  RawConnection c(s.port());
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + test::post_request("/v1/classify?top=1", wav) +
                     "GET /v1/model HTTP/1.1\r\nHost: x\r\n\r\n" + test::post_request("/v1/classify?top=zero", wav)));
  auto a = c.answer();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(nlohmann::json::parse(a.body)["status"], "ok");
  a = c.answer();
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(nlohmann::json::parse(a.body)["ranked"].size(), 1u);
  a = c.answer();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(nlohmann::json::parse(a.body)["architecture"], "resnet18");
  a = c.answer();
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(a.body.find("top: not a number"), std::string::npos) << a.body;
}

TEST_F(ServeTest, BusyServerAnswers503WithRetryAfter) {
  ServerOptions so;
  so.workers = 1;
  so.queue = 0;
  so.retry_after_s = 7;
  Serving s(model_, so);
  // Heavy requests (long audio, windows every half second) from several clients at once: one at a time
  // can be worked on and none may wait, so the others are turned away.
  const std::string wav = wav_bytes(dir_.path(), 120.0, 8000, 4);
  std::vector<std::future<std::pair<int, std::string>>> answers;
  for (int i = 0; i < 6; ++i)
    answers.push_back(std::async(std::launch::async, [&] {
      auto c = s.client();
      auto r = c.Post("/v1/classify?hop=0.5", wav, kOctets);
      return r ? std::make_pair(r->status, r->get_header_value("Retry-After")) : std::make_pair(-1, std::string());
    }));
  int ok = 0, busy = 0;
  for (auto& a : answers) {
    auto [status, retry] = a.get();
    if (status == 200) ++ok;
    if (status == 503) {
      ++busy;
      EXPECT_EQ(retry, "7");
    }
    EXPECT_TRUE(status == 200 || status == 503) << status;
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
}

TEST_F(ServeTest, BadOptionsAndBusyPortsAreClearErrors) {
  ServerOptions so;
  so.workers = 0;
  EXPECT_THROW(HttpServer(model_, {}, so), Error);
  so = {};
  so.port = 70000;
  EXPECT_THROW(HttpServer(model_, {}, so), Error);
  Serving first(model_, {});
  ServerOptions taken;
  taken.host = "127.0.0.1";
  taken.port = 0;
  HttpServer a(model_, {}, taken);
  const int port = a.bind();
  taken.port = port;
  HttpServer b(model_, {}, taken);
  try {
    b.bind();
    FAIL() << "bound a port in use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace genrenet
