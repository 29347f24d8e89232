// Whole files (birga/file.h): a write replaces the file whole; one that fails leaves what was
// there and no temporary, and its error names the file and says what is on disk. A full disk
// is a real tmpfs of a few pages in a mount namespace of the test's own; an unflushable
// directory a real one the writer may write to but not read.
#include "birga/file.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "child_process.h"
#include "replica_fixture.h"

namespace birga {

namespace {

size_t entries(const std::string& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                           std::filesystem::directory_iterator()));
}

// The file's bytes, or the error reading it.
std::string contents(const std::string& path) {
  auto read = read_file(path);
  return read.is_ok() ? *read : read.status().to_string();
}

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

// In the calling (child) process: mounts a tmpfs with `options` over `dir`, in a mount
// namespace of its own so that nobody else sees it. Root unshares the namespace directly;
// another user first enters a user namespace of its own, in which it is root. Empty when
// mounted, else why not.
std::string mount_private_tmpfs(const std::string& dir, const std::string& options) {
  if (unshare(CLONE_NEWNS) != 0) {
    const uid_t uid = getuid();
    const gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      return std::string("no mount namespace here: ") + std::strerror(errno);
    }
    if (!write_text("/proc/self/setgroups", "deny") ||
        !write_text("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_text("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return "cannot map this user in a user namespace";
    }
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      mount("birga-test", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    return std::string("cannot mount a tmpfs: ") + std::strerror(errno);
  }
  return "";
}

// Runs `fn(stick)` in a child process with a tmpfs of `options` mounted, in a mount namespace
// of its own, at `stick` (a new directory in `tmp`): a USB stick nobody else sees. Returns what
// fn returned, or "skip: <why>" where no tmpfs can be mounted.
std::string on_private_stick(const test::TempDir& tmp, const std::string& options,
                             const std::function<std::string(const std::string&)>& fn) {
  const std::string stick = tmp.sub("stick");
  REQUIRE(std::filesystem::create_directory(stick));
  return test::in_child([&]() -> std::string {
    const std::string why = mount_private_tmpfs(stick, options);
    return why.empty() ? fn(stick) : "skip: " + why;
  });
}

// True (with a warning naming why) when a child reported that it could not run here.
bool skipped(const std::string& out) {
  if (out.rfind("skip: ", 0) != 0) return false;
  WARN("not run: " << out);
  return true;
}

// In the calling (child) process: gives up the capabilities that let root read any directory,
// so that a directory's permission bits apply (nothing to give up for another user).
bool drop_dac_override() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
  return syscall(SYS_capset, &header, data) == 0;
}

}  // namespace

TEST_CASE("File: a write replaces the file whole, its bytes as given", "[engine][file]") {
  test::TempDir tmp;
  const std::string path = tmp.sub("changes.bgcl");
  const std::string bytes("BGCL\x01\x00\xff", 7);
  REQUIRE(write_file(path, "an older content, longer than the new one").is_ok());
  REQUIRE(write_file(path, bytes).is_ok());
  auto read = read_file(path);
  REQUIRE(read.is_ok());
  CHECK(*read == bytes);
  CHECK(entries(tmp.path()) == 1);  // no temporary left beside it
  REQUIRE(write_file(path, "").is_ok());
  CHECK(read_file(path)->empty());
  const std::string large(300000, 'x');  // more than one read
  REQUIRE(write_file(path, large).is_ok());
  CHECK(read_file(path).value() == large);
}

// What a write_file leaves is personal data, changes or keys: readable by its owner only,
// whatever the umask says, and whatever mode the file it replaces had.
TEST_CASE("File: a written file is readable by its owner only (0600) under any umask",
          "[engine][file]") {
  test::TempDir tmp;
  const std::string path = tmp.sub("persons.csv");
  auto mode = [&] {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  const mode_t old_umask = ::umask(022);
  const bool created = write_file(path, "pinfl,name\n").is_ok();
  const mode_t fresh = created ? mode() : 0;
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  ::umask(0);
  const bool replaced = write_file(path, "pinfl,name\n1,x\n").is_ok();
  const mode_t after_replace = replaced ? mode() : 0;
  ::umask(0277);  // would leave 0400: the owner could not write the file again
  const bool odd = write_file(path, "again").is_ok();
  const mode_t after_odd = odd ? mode() : 0;
  ::umask(old_umask);
  REQUIRE(created);
  REQUIRE(replaced);
  REQUIRE(odd);
  CHECK(fresh == 0600);
  CHECK(after_replace == 0600);
  CHECK(after_odd == 0600);
}

TEST_CASE("File: a write that fails leaves what was there and names the file", "[engine][file]") {
  test::TempDir tmp;
  // A directory (not empty) stands at the path: the rename over it fails.
  const std::string taken = tmp.sub("taken");
  REQUIRE(std::filesystem::create_directory(taken));
  std::ofstream(taken + "/inside") << "kept";
  Status s = write_file(taken, "new");
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().rfind("cannot write " + taken + ": ", 0) == 0);
  CHECK_THAT(s.message(), Catch::EndsWith("(" + taken + " is as it was)"));
  CHECK(read_file(taken + "/inside").value() == "kept");
  CHECK(entries(tmp.path()) == 1);
  const std::string nowhere = tmp.sub("missing/changes.bgcl");
  s = write_file(nowhere, "new");
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message() ==
        "cannot write " + nowhere + ": No such file or directory (" + nowhere + " is as it was)");
  auto missing = read_file(tmp.sub("nothing"));
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK(missing.status().message() ==
        "cannot read " + tmp.sub("nothing") + ": no such file or not readable");
  // A directory opens like a file; it must not read as an empty one.
  auto dir = read_file(taken);
  CHECK(dir.status().code() == Code::kNotFound);
  CHECK(dir.status().message() == "cannot read " + taken + ": it is a directory, not a file");
}

TEST_CASE("File: a full disk is resource_exhausted, says so and leaves what was there",
          "[engine][file][disk]") {
  test::TempDir tmp;
  const std::string path = tmp.sub("stick/changes.bgcl");
  // 16 pages and 4 inodes: the directory, the file, and room for a few more.
  const std::string out =
      on_private_stick(tmp, "size=64k,nr_inodes=4,mode=0700", [&](const std::string& stick) {
        std::string lines;
        if (!write_file(path, "kept").is_ok()) return std::string("cannot write the first file");
        // More bytes than the disk holds: the temporary's write fails.
        lines += write_file(path, std::string(200000, 'x')).to_string() + "\n";
        lines += contents(path) + "\n";
        lines += std::to_string(entries(stick)) + "\n";
        // No inode left: the temporary cannot even be created.
        for (int i = 0; i < 10; ++i) {
          const int fd = open((stick + "/filler-" + std::to_string(i)).c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
          if (fd < 0) break;
          close(fd);
        }
        lines += write_file(path, "new").to_string() + "\n";
        lines += contents(path) + "\n";
        return lines;
      });
  if (skipped(out)) return;
  const std::string full = "resource_exhausted: cannot write " + path +
                           ": No space left on device (disk full: free space and retry; " + path +
                           " is as it was)";
  CHECK(out == full + "\nkept\n1\n" + full + "\nkept\n");
}

TEST_CASE("File: a read-only device is unavailable, says so and leaves what was there",
          "[engine][file][disk]") {
  test::TempDir tmp;
  const std::string path = tmp.sub("stick/changes.bgcl");
  const std::string out =
      on_private_stick(tmp, "size=64k,mode=0700", [&](const std::string& stick) {
        if (!write_file(path, "kept").is_ok()) return std::string("cannot write the first file");
        // As the kernel leaves a USB stick after an error on it: remounted read-only.
        if (mount(nullptr, stick.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
          return std::string("skip: cannot remount read-only: ") + std::strerror(errno);
        }
        return write_file(path, "new").to_string() + "\n" + contents(path) + "\n";
      });
  if (skipped(out)) return;
  CHECK(out == "unavailable: cannot write " + path +
                   ": Read-only file system (the device is read-only (a stick remounted "
                   "read-only after an error?); " +
                   path + " is as it was)\nkept\n");
}

TEST_CASE("File: a directory that cannot be flushed after the rename is named, the file in place",
          "[engine][file]") {
  test::TempDir tmp;
  // A drop box: the writer may create and rename files in it, but not open it to flush it.
  const std::string box = tmp.sub("box");
  REQUIRE(std::filesystem::create_directory(box));
  const std::string path = box + "/changes.bgcl";
  REQUIRE(write_file(path, "old").is_ok());
  REQUIRE(chmod(box.c_str(), 0300) == 0);
  const std::string out = test::in_child([&]() -> std::string {
    if (!drop_dac_override()) return "skip: cannot drop the capabilities here";
    return write_file(path, "new").to_string();
  });
  REQUIRE(chmod(box.c_str(), 0700) == 0);
  if (skipped(out)) return;
  CHECK(out == "unavailable: wrote " + path +
                   ", but flushing its directory failed: Permission denied (the new file is in "
                   "place, but its directory entry may not be durable: after a crash or power "
                   "cut " +
                   path + " may be as it was before; write it again to be sure)");
  CHECK(read_file(path).value() == "new");
  CHECK(entries(box) == 1);
}

}  // namespace birga
