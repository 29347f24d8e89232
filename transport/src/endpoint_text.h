// "127.0.0.1:5555" / "[::1]:5555" for an endpoint, as log lines name peers.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string>

namespace birga::transport {

template <typename Endpoint>
std::string endpoint_text(const Endpoint& ep) {
  const boost::asio::ip::address a = ep.address();
  std::string host = a.to_string();
  if (a.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

}  // namespace birga::transport
