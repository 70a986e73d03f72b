// A file descriptor that closes itself (the MP3 decoder's file, the file copy).
#pragma once

#include <unistd.h>

namespace genrenet::io {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace genrenet::io
