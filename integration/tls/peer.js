// A TLS client in Node's tls module, for the interop tests
// (integration/tls_test.cc). Usage:
//   node peer.js PORT CA_FILE VERSION(1.2|1.3) FRAMES SIZE [CERT KEY]
// Sends FRAMES frames of SIZE bytes, checks every echo, ends the session
// (end(): close_notify) and prints "ok TLSv1.3". Exit status: 0 on success,
// 1 on a wrong echo, 3 when the handshake is refused.
'use strict';
const tls = require('tls');
const fs = require('fs');

const [port, ca, version, frames, size, cert, key] = process.argv.slice(2);
const v = version === '1.2' ? 'TLSv1.2' : 'TLSv1.3';
const opts = {
  host: '127.0.0.1', port: Number(port), ca: fs.readFileSync(ca), servername: 'localhost',
  minVersion: v, maxVersion: v,
};
if (cert) {
  opts.cert = fs.readFileSync(cert);
  opts.key = fs.readFileSync(key);
}
const parts = [];
for (let i = 0; i < Number(frames); i++) {
  const payload = Buffer.alloc(Number(size));
  for (let k = 0; k < payload.length; k++) payload[k] = (i * 7 + k) & 0xff;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  parts.push(header, payload);
}
const want = Buffer.concat(parts);
let got = Buffer.alloc(0);
let done = false;
const socket = tls.connect(opts, () => socket.write(want));
socket.setTimeout(10000, () => {
  console.error('peer.js: timed out');
  process.exit(1);
});
socket.on('data', (d) => {
  got = Buffer.concat([got, d]);
  if (!done && got.length >= want.length) {
    done = true;
    if (!got.equals(want)) {
      console.error(`peer.js: echo differs (${got.length} of ${want.length} bytes)`);
      process.exit(1);
    }
    console.log(`ok ${socket.getProtocol()}`);
    socket.end();
  }
});
socket.on('error', (e) => {
  console.error(`peer.js: refused: ${e.message}`);
  process.exit(done ? 0 : 3);
});
socket.on('close', () => process.exit(done ? 0 : 1));
