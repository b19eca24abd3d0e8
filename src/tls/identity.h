// Who a TLS peer is, from its certificate: what mutual TLS hands the
// handler (Connection::peer_subject(), peer_names()).
#pragma once

#include <string>
#include <vector>

using SSL = struct ssl_st;

namespace framed::tls {

// The subject of `ssl`'s peer certificate in RFC 2253 form, in the
// certificate's order ("CN=client one,O=framed tests"), and its DNS, email,
// URI and IP subject alternative names ("DNS:client.example"). Returns
// false, setting nothing, when there is no certificate or it was not
// verified (without mutual TLS).
bool verified_peer(SSL* ssl, std::string& subject, std::vector<std::string>& names);

}  // namespace framed::tls
