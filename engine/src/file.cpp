#include "birga/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace birga {

namespace {

std::string errno_text(int e) {
  return std::generic_category().message(e);
}

// The Status for a step of write_file that failed with errno `e`: "<what failed>: <strerror>
// (<what to do>; <state>)", where `state` says what is on disk now. A full disk or
// quota is resource_exhausted (freeing space helps); a file larger than the file system or the
// process's file size limit allows (EFBIG) too; an I/O error usually means the device left (a
// USB stick pulled out), so it is unavailable: another try, on another stick, may succeed.
// Anything else is `otherwise`.
Status failure(const std::string& what_failed, int e, Code otherwise, const std::string& state) {
  Code code = otherwise;
  std::string advice;
  switch (e) {
    case ENOSPC:
    case EDQUOT:
      code = Code::kResourceExhausted;
      advice = "disk full: free space and retry; ";
      break;
    case EFBIG:
      code = Code::kResourceExhausted;
      advice = "the file is too large for this file system or this process's file size limit; ";
      break;
    case EIO:
      code = Code::kUnavailable;
      advice = "the device failed; ";
      break;
    case EROFS:
      code = Code::kUnavailable;
      advice = "the device is read-only (a stick remounted read-only after an error?); ";
      break;
    default:
      break;
  }
  return Status(code, what_failed + ": " + errno_text(e) + " (" + advice + state + ")");
}

// What a failure before the rename leaves: `path` untouched, and the temporary removed (or, if
// removing it failed too, named).
std::string untouched(const std::string& path, const std::string& tmp) {
  std::string state = path + " is as it was";
  if (!tmp.empty() && ::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
    state += "; the temporary " + tmp + " could not be removed";
  }
  return state;
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
// reused. Mode 0600 whatever the umask: these files hold personal data (exports), changes or
// keys (enrolment bundles), and a common umask of 022 would leave them readable by every user
// of the machine. fchmod as well as the open mode, because a umask only ever removes bits and
// 0600 must not become 0400 under an odd one (the writer could not replace its own file).
int create_temporary(const std::string& path, std::string* tmp) {
  static std::atomic<uint64_t> next{0};
  for (int attempt = 0;; ++attempt) {
    *tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(next++);
    const int fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 && ::fchmod(fd, 0600) != 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp->c_str());
      errno = e;
      return -1;
    }
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
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && (errno == EACCES || errno == EPERM)) {
    return Status::permission_denied("cannot read " + path + ": " + std::strerror(errno) +
                                     " (run as the user that owns it, or fix its permissions)");
  }
  if (fd < 0) return Status::not_found("cannot read " + path + ": no such file or not readable");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // A directory opens, and reading it fails: it must not pass for an empty file.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    return Status::not_found("cannot read " + path + ": it is a directory, not a file");
  }
  std::string bytes;
  if (S_ISREG(st.st_mode)) bytes.reserve(static_cast<size_t>(st.st_size));
  char buf[64 << 10];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::unavailable("cannot read " + path + ": " + errno_text(errno) +
                                 " (the device failed, or the file cannot be read whole)");
    }
    if (n == 0) return bytes;
    bytes.append(buf, static_cast<size_t>(n));
  }
}

Status write_file(const std::string& path, std::string_view bytes) {
  std::string tmp;
  const int fd = create_temporary(path, &tmp);
  if (fd < 0) {
    const int e = errno;  // nothing was created
    return failure("cannot write " + path, e, Code::kInvalidArgument, untouched(path, ""));
  }
  int e = write_all(fd, bytes);
  // Flushed before the rename: renamed first, a crash could leave `path` naming an empty or
  // partial file, which is what this function exists to prevent.
  if (e == 0 && ::fsync(fd) != 0) e = errno;
  if (::close(fd) != 0 && e == 0) e = errno;
  if (e != 0) return failure("cannot write " + path, e, Code::kUnavailable, untouched(path, tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    e = errno;
    return failure("cannot write " + path, e, Code::kInvalidArgument, untouched(path, tmp));
  }
  // From here `path` holds the new bytes; only the durability of its directory entry is open.
  e = sync_directory(path);
  if (e == 0) return Status::ok();
  return failure("wrote " + path + ", but flushing its directory failed", e, Code::kUnavailable,
                 "the new file is in place, but its directory entry may not be durable: after a "
                 "crash or power cut " +
                     path + " may be as it was before; write it again to be sure");
}

}  // namespace birga
