// What the server needs of TLS, whether or not this build has it: the
// shared context made from the options, and the layer over a worker's
// transport. Built without OpenSSL (layer_none.cc), both refuse with a
// message that says so.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "framed/server.h"
#include "transport/transport.h"

namespace framed::tls {

class ContextSlot;

// The context every worker shares, in a slot a reload can refill; null with
// `error` set (a file that cannot be read or parsed, a key that does not
// match, a bad version or cipher list, or no TLS in this build).
std::shared_ptr<ContextSlot> make_slot(const TlsOptions& options, std::string& error);

// Makes a new context from `options` (the files read again) and puts it in
// `slot` for connections accepted from now on. Returns false with `error`
// set, the slot unchanged, if the new one cannot be made.
bool reload(ContextSlot& slot, const TlsOptions& options, std::string& error);

// Makes the transport below (with the layer as its sink).
using MakeInner =
    std::function<std::unique_ptr<transport::Transport>(transport::Sink&, std::string&)>;

// A TLS layer reporting to `sink` over the transport `make_inner` makes;
// null with `error` set if that fails. With `proxy_first`, each accepted
// connection's PROXY header (spec/PROXY.md) is passed up in plain text
// before the handshake begins.
std::unique_ptr<transport::Transport> make_layer(std::shared_ptr<ContextSlot> slot,
                                                 transport::Sink& sink, const MakeInner& make_inner,
                                                 bool proxy_first, std::string& error);

}  // namespace framed::tls
