// A Node.js `net` echo server, the peer framed-server is measured against:
// every byte read is written back (socket.pipe(socket)). It knows nothing of
// frames, which an echo does not need.
//   node bench/peers/node_echo.js [PORT]    (0 or none: a free port)
// Prints "listening on 127.0.0.1:PORT" once listening, as framed-server does.
'use strict';
const net = require('net');

const port = Number(process.argv[2] || 0);
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.on('error', (err) => {
  console.error(`node_echo: ${err.message}`);
  process.exit(1);
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
