// A real gun relay (gun 0.2020.1241, defaults: AXE + radisk) on 127.0.0.1, port 0 (or the given port); prints {"port":N}.
// Usage: node gun-relay.cjs <dataDir> [peerUrl,...] [port]
'use strict';
const Gun = require('gun');
const http = require('node:http');
const server = http.createServer();
server.listen(Number(process.argv[4] || 0), '127.0.0.1', () => {
  // A relay with peers is started with super: false: gun's `web` relays default to super peers, which never
  // dial their peers on their own.
  const peers = process.argv[3] && process.argv[3] !== '-' ? process.argv[3].split(',') : [];
  Gun({ web: server, file: process.argv[2], multicast: false, peers, ...(peers.length ? { super: false } : {}) });
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
