// A test's work done in a child process of its own, for what must not touch the test runner
// itself (a mount namespace, dropped capabilities, a file size limit, a kill).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <functional>
#include <string>

namespace birga::test {

// Runs `fn` in a child process, so that what it changes (its mount namespace, its
// capabilities) stays there, and returns what it returned. The child uses no Catch macros:
// the parent checks the text.
inline std::string in_child(const std::function<std::string()>& fn) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(fds[0]);
    std::string out;
    try {
      out = fn();
    } catch (...) {
      out = "exception in the child";
    }
    const bool sent = write(fds[1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
    _exit(sent ? 0 : 1);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    REQUIRE(n > 0);
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  REQUIRE(WIFEXITED(wstatus));
  REQUIRE(WEXITSTATUS(wstatus) == 0);
  return out;
}

}  // namespace birga::test
