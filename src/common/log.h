// The library's side of the log callback (genrenet.h: set_log_callback): every message the library reports
// as it works goes through log(), never straight to stdout or stderr.
#pragma once

#include <string>

#include <genrenet/genrenet.h>

namespace genrenet {

void log(LogLevel level, const std::string& message);
// printf-style, for the lines of numbers (a training table's row).
[[gnu::format(printf, 2, 3)]] void logf(LogLevel level, const char* format, ...);

}  // namespace genrenet
