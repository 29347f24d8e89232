#include "endpoint.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

namespace birga::cli {

namespace {

Status not_endpoint(std::string_view text, const std::string& why) {
  return Status::invalid_argument("'" + std::string(text) + "' is not ADDRESS:PORT" + why);
}

// A host part that cannot name anything: empty, or with a space or control character (a
// stray quote or paste).
bool bad_host(std::string_view host) {
  return host.empty() || std::any_of(host.begin(), host.end(), [](char c) {
           return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
         });
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view text) {
  const std::string examples = " (e.g. 192.168.1.10:7400, hub.local:7400 or [fd00::1]:7400)";
  std::string_view host, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return not_endpoint(text, examples);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return not_endpoint(text, examples);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return not_endpoint(text, ": write an IPv6 address in brackets, e.g. [fd00::1]:7400");
    }
  }
  if (bad_host(host) || port.empty()) return not_endpoint(text, examples);
  uint32_t n = 0;
  for (char c : port) {  // digits only: no sign, space or hex, which strtoul would take
    const bool digit = c >= '0' && c <= '9';
    if (digit) n = n * 10 + static_cast<uint32_t>(c - '0');
    if (!digit || n > 65535) {
      return not_endpoint(text,
                          ": the port '" + std::string(port) + "' is not a number from 0 to 65535");
    }
  }
  return Endpoint{std::string(host), static_cast<uint16_t>(n)};
}

std::string endpoint_text(const Endpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

Result<std::string> listen_address(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    return Status::invalid_argument("cannot listen on '" + host + "': it does not resolve to an " +
                                    "address (" + gai_strerror(rc) + ")");
  }
  const std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(found, freeaddrinfo);
  char numeric[NI_MAXHOST];
  if (getnameinfo(found->ai_addr, found->ai_addrlen, numeric, sizeof numeric, nullptr, 0,
                  NI_NUMERICHOST) != 0) {
    return Status::invalid_argument("cannot listen on '" + host + "': no numeric address");
  }
  return std::string(numeric);
}

}  // namespace birga::cli
