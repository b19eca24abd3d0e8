// Text forms of what a PROXY header carries, for logs and tests. Internal:
// the public parser (framed/proxy.h) includes no socket header, so the
// formatting, which uses inet_ntop, lives here.
#pragma once

#include <string>

#include "framed/proxy.h"

namespace framed::net {

// "1.2.3.4:5" for tcp4, "[::1]:5" for tcp6 (the form Endpoint::to_string
// uses, so a peer reads the same whether it came from accept() or from a
// header); "?" for any other family.
std::string address_text(ProxyFamily family, const ProxyAddress& address);

// "v2 PROXY TCP4 1.2.3.4:5 -> 6.7.8.9:10", "v2 LOCAL", "v1 PROXY UNKNOWN".
std::string describe(const ProxyHeader& header);

}  // namespace framed::net
