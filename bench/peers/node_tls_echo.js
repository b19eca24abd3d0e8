// A Node.js `tls` echo server, the TLS peer framed-server is measured
// against: every byte decrypted is encrypted back (socket.pipe(socket)).
//   node bench/peers/node_tls_echo.js CERT KEY [PORT]   (0 or none: a free port)
// Prints "listening on 127.0.0.1:PORT" once listening, as framed-server does.
'use strict';
const fs = require('fs');
const tls = require('tls');

const [cert, key, portArg] = process.argv.slice(2);
if (!cert || !key) {
  console.error('usage: node_tls_echo.js CERT KEY [PORT]');
  process.exit(2);
}
const server = tls.createServer(
  { cert: fs.readFileSync(cert), key: fs.readFileSync(key), minVersion: 'TLSv1.2' },
  (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
server.on('tlsClientError', () => {});
server.on('error', (err) => {
  console.error(`node_tls_echo: ${err.message}`);
  process.exit(1);
});
server.listen({ host: '127.0.0.1', port: Number(portArg || 0), backlog: 4096 }, () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
