// The handshake mode of framed-bench: new TLS connections one after another,
// to measure what a server spends on each full or resumed handshake.
#pragma once

#include "load.h"
#include "net/socket.h"

namespace framed::bench {

// Opens connections one after another on each of `options.threads` threads
// until the window closes (or `options.frames` handshakes are done): a TCP
// connect, a TLS handshake (offering the previous connection's session when
// `resume` is set), one 1-byte frame echoed (which also brings TLS 1.3
// tickets), close_notify and close. In the result, `frames` counts the
// handshakes completed in the window, `resumed` those that resumed a session,
// `rtt_ns` each connection's whole time and `connected` every connection.
// A connection that fails counts as an error and the run goes on. Never
// throws. `hook` is called by the first thread only.
LoadResult run_handshakes(const net::Endpoint& endpoint, const LoadOptions& options, bool resume,
                          const WindowHook& hook = {});

}  // namespace framed::bench
