#include "io/file_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

#include <genrenet/genrenet.h>

#include "common/failpoint.h"
#include "io/fd.h"

namespace genrenet::io {
namespace {

off_t size_of(int fd, const std::filesystem::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(p.string(), "cannot be examined: " + std::string(std::strerror(errno)));
  return st.st_size;
}

// posix_fallocate returns the error instead of setting errno; EOPNOTSUPP/EINVAL: a file system without
// allocation (some network ones), where the copy goes on unreserved.
int reserve(int fd, off_t bytes) {
  if (bytes <= 0) return 0;
  const int rc = ::posix_fallocate(fd, 0, bytes);
  return rc == EOPNOTSUPP || rc == EINVAL ? 0 : rc;
}

// Copies [0, size) of `in` to `out` from offset 0; `halfway` is called once half of it is written.
void copy_bytes(int in, int out, off_t size, const std::filesystem::path& to, const std::function<int()>& halfway) {
  std::vector<char> buf(1 << 20);
  const off_t half = size / 2;
  off_t done = 0;
  bool half_called = false;
  while (done < size) {
    if (!half_called && done >= half) {
      half_called = true;
      if (const int e = halfway()) throw Error(to.string(), describe_write_error(e, "while it was being written"));
    }
    const off_t until = half_called ? size : half;  // the first pieces stop at the half
    const size_t want = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(buf.size()), until - done));
    const ssize_t got = ::pread(in, buf.data(), want, done);
    if (got <= 0) throw Error(to.string(), "its source could not be read: " + std::string(got < 0 ? std::strerror(errno) : "it shrank"));
    for (ssize_t put = 0; put < got;) {
      const ssize_t w = ::pwrite(out, buf.data() + put, static_cast<size_t>(got - put), done + put);
      if (w < 0) throw Error(to.string(), describe_write_error(errno, "while it was being written"));
      put += w;
    }
    done += got;
  }
}

}  // namespace

std::string dangling_link(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec)) || std::filesystem::exists(path, ec)) return "";
  return "is a symbolic link to " + std::filesystem::read_symlink(path, ec).string() + ", which does not exist";
}

std::string describe_write_error(int err, const std::string& what) {
  if (err == ENOSPC || err == EDQUOT) return "not enough free space on its disk " + what + " (" + std::strerror(err) + ")";
  return std::string(std::strerror(err)) + " " + what;
}

void copy_file_reserved(const std::filesystem::path& from, const std::filesystem::path& to, const char* failpoint_name) {
  Fd in{::open(from.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw Error(from.string(), "cannot be read: " + std::string(std::strerror(errno)));
  const off_t size = size_of(in.fd, from);
  Fd out{::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (out.fd < 0) throw Error(to.string(), describe_write_error(errno, "to make it"));
  try {
    int e = failpoint(failpoint_name, from.string());
    if (!e) e = reserve(out.fd, size);
    if (e) throw Error(to.string(), describe_write_error(e, "for a copy of " + std::to_string(size) + " bytes"));
    copy_bytes(in.fd, out.fd, size, to, [] { return 0; });
    if (::fsync(out.fd) != 0) throw Error(to.string(), describe_write_error(errno, "while it was flushed"));
  } catch (...) {
    ::close(out.fd);
    out.fd = -1;
    ::unlink(to.c_str());
    throw;
  }
}

void rewrite_in_place(const std::filesystem::path& from, const std::filesystem::path& to, const char* failpoint_name) {
  Fd in{::open(from.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw Error(from.string(), "cannot be read: " + std::string(std::strerror(errno)));
  const off_t size = size_of(in.fd, from);
  Fd out{::open(to.c_str(), O_WRONLY | O_CLOEXEC)};  // no O_TRUNC: nothing is lost before the reservation
  if (out.fd < 0) throw Error(to.string(), describe_write_error(errno, "to rewrite it"));
  if (const int e = reserve(out.fd, size))
    throw Error(to.string(), describe_write_error(e, "to rewrite it in place (it needs " + std::to_string(size) + " bytes)"));
  copy_bytes(in.fd, out.fd, size, to, [&] { return failpoint(failpoint_name, to.string()); });
  if (::ftruncate(out.fd, size) != 0 || ::fsync(out.fd) != 0)
    throw Error(to.string(), describe_write_error(errno, "while it was finished"));
}

}  // namespace genrenet::io
