#include "birga/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace birga {

namespace {

std::string errno_text(int e) {
  return std::generic_category().message(e);
}

// A failed write or flush. Disk full is transient in the sense that freeing space helps; an I/O
// error on removable media usually means the stick left, so another try (on another stick) may
// succeed too.
Status write_failed(const std::string& path, int e) {
  const std::string message = "error writing " + path + ": " + errno_text(e);
  if (e == ENOSPC || e == EDQUOT) return Status::resource_exhausted(message);
  return Status::unavailable(message);
}

// Writes every byte, going on after a partial write or a signal.
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;  // nothing written and no error: never loop on it
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// Creates a new, empty temporary beside `path` (a rename is atomic only within one file
// system). O_EXCL, so a temporary left by a crashed writer, or another writer's, is never
// reused; mode 0666 less the umask, as the final file would have been created.
int create_temporary(const std::string& path, std::string* tmp) {
  static std::atomic<uint64_t> next{0};
  for (int attempt = 0;; ++attempt) {
    *tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(next++);
    const int fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST || attempt == 100) return fd;
  }
}

// Flushes the directory holding `path`, so the rename itself survives a power cut. Some file
// systems cannot flush a directory (EINVAL): there the rename is as durable as it gets.
int sync_directory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
  ::close(fd);
  return rc;
}

}  // namespace

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read " + path + ": no such file or not readable");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Status::unavailable("error reading " + path);
  return buf.str();
}

Status write_file(const std::string& path, std::string_view bytes) {
  std::string tmp;
  const int fd = create_temporary(path, &tmp);
  if (fd < 0) return Status::invalid_argument("cannot write " + path + ": " + errno_text(errno));
  int e = write_all(fd, bytes);
  // Flushed before the rename: renamed first, a crash could leave `path` naming an empty or
  // partial file, which is what this function exists to prevent.
  if (e == 0 && ::fsync(fd) != 0) e = errno;
  if (::close(fd) != 0 && e == 0) e = errno;
  if (e != 0) {
    ::unlink(tmp.c_str());
    return write_failed(path, e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    e = errno;
    ::unlink(tmp.c_str());
    return Status::invalid_argument("cannot write " + path + ": " + errno_text(e));
  }
  e = sync_directory(path);
  return e == 0 ? Status::ok() : write_failed(path, e);
}

}  // namespace birga
