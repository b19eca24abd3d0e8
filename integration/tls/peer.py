#!/usr/bin/env python3
"""A TLS client in Python's ssl module, for the interop tests (integration/tls_test.cc).

Connects to a framed server over TLS, sends FRAMES frames of SIZE bytes
(pipelined), checks every echo byte for byte, then ends the session the
TLS way (close_notify both ways, ssl.SSLSocket.unwrap) and prints
"ok TLSv1.3 TLS_AES_256_GCM_SHA384". Exit status: 0 on success, 1 on a
wrong echo or a broken close, 3 when the handshake is refused (the reason
printed on stderr), 2 on bad usage.
"""
import argparse
import socket
import ssl
import struct
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--version", choices=["1.2", "1.3"], default="1.3")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--size", type=int, default=1000)
    a = p.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(a.ca)
    v = ssl.TLSVersion.TLSv1_3 if a.version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = v
    ctx.maximum_version = v
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    raw = socket.create_connection((a.host, a.port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        payloads = [bytes((i * 7 + k) & 0xFF for k in range(a.size)) for i in range(a.frames)]
        s.sendall(b"".join(struct.pack(">I", len(x)) + x for x in payloads))
        want = b"".join(struct.pack(">I", len(x)) + x for x in payloads)
        got = bytearray()
        while len(got) < len(want):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ssl.SSLError, ConnectionError) as e:
        print(f"peer.py: refused: {e}", file=sys.stderr)
        return 3
    if bytes(got) != want:
        print(f"peer.py: echo differs ({len(got)} of {len(want)} bytes)", file=sys.stderr)
        return 1
    version, cipher = s.version(), s.cipher()[0]
    try:
        s.unwrap()  # close_notify sent, and the server's awaited.
    except (ssl.SSLError, OSError) as e:
        print(f"peer.py: the close was not clean: {e!r}", file=sys.stderr)
        return 1
    print(f"ok {version} {cipher}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
