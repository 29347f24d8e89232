// Endpoint: an address and port as `birga sync ADDRESS:PORT` and `birga serve --listen
// ADDRESS:PORT` take them. Both commands parse with parse_endpoint(), so they accept the same
// forms and say the same of a bad one.
//
// ADDRESS is an IPv4 address (192.168.1.10), a host name (hub.local, localhost) or an IPv6
// address in brackets ([fd00::1], [::], [fe80::1%eth0]); PORT is decimal, 0 to 65535 (0, for
// serve: any free port). An IPv6 address without brackets is refused: in "fd00::1:7400" the
// port cannot be told from the address.
//
// Thread rule: plain values and functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "birga/status.h"

namespace birga::cli {

struct Endpoint {
  std::string host;  // without brackets: "192.168.1.10", "hub.local", "fd00::1"
  uint16_t port = 0;
};

// invalid_argument for anything but the forms above, naming `text` and what is wrong: "'X' is
// not ADDRESS:PORT (e.g. ...)", "...: write an IPv6 address in brackets, ...", "...: the port
// 'P' is not a number from 0 to 65535".
Result<Endpoint> parse_endpoint(std::string_view text);

// "192.168.1.10:7400", "[fd00::1]:7400": as it would be typed.
std::string endpoint_text(const Endpoint& endpoint);

// The numeric address to listen on for `host`: an IP address as the system reads it, a name
// resolved to the first address the system gives for it. invalid_argument when the name does
// not resolve.
Result<std::string> listen_address(const std::string& host);

}  // namespace birga::cli
