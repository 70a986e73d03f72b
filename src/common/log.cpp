// One callback for everything the library reports; the default writes it on stderr.
#include "common/log.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <vector>

namespace genrenet {
namespace {

std::mutex g_log_mutex;
LogCallback g_log_callback;  // empty: the default

void write_to_stderr(LogLevel level, const std::string& message) {
  const std::string line = log_line(level, message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

std::string log_line(LogLevel level, const std::string& message) {
  switch (level) {
    case LogLevel::Error: return "error: " + message;
    case LogLevel::Warning: return "warning: " + message;
    default: return message;
  }
}

LogCallback set_log_callback(LogCallback callback) {
  std::lock_guard lock(g_log_mutex);
  std::swap(g_log_callback, callback);
  return callback;
}

void log(LogLevel level, const std::string& message) {
  // One call at a time, so that lines of several threads never interleave and a callback need not lock.
  std::lock_guard lock(g_log_mutex);
  if (g_log_callback)
    g_log_callback(level, message);
  else
    write_to_stderr(level, message);
}

void logf(LogLevel level, const char* format, ...) {
  std::va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::vector<char> text(static_cast<size_t>(n < 0 ? 0 : n) + 1);
  std::vsnprintf(text.data(), text.size(), format, again);
  va_end(again);
  log(level, std::string(text.data(), text.size() - 1));
}

}  // namespace genrenet
