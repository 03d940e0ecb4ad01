// Node `ws` as the server for weft's client (tests/interop, run by scripts/interop.sh).
//
//     node node_server.mjs [--no-compress] [--tls-cert FILE --tls-key FILE]
//
// Listens on 127.0.0.1 on a free port and prints `listening on ws://127.0.0.1:PORT` (wss://
// with TLS) as its first line. Speaks the scenario protocol of
// crates/weft/examples/browser_page.rs, as py_server.py does: text and binary messages are
// echoed as they came, text messages starting with `!` are commands. ws delivers whole
// messages only, so `!frames` answers `frames ?`. Subprotocol `weft.interop.v1` is chosen when
// offered, never required. `ws` is loaded from $INTEROP_NODE_DIR (default: target/interop/node).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const nodeDir = process.env.INTEROP_NODE_DIR ?? join(here, '../../target/interop/node');
const { WebSocketServer } = createRequire(join(nodeDir, 'package.json'))('ws');

const PROTOCOLS = ['weft.interop.v1'];

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const compress = !args.includes('--no-compress');
const cert = option('--tls-cert');
const key = option('--tls-key');

// The close frame last received from any client, for `!lastclose`.
let lastClose = null;

const options = {
  // ws's server does not accept permessage-deflate unless asked; its client offers it.
  perMessageDeflate: compress,
  maxPayload: 0,
  handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) ?? false,
};
let server;
let wss;
if (cert) {
  server = createServer({ cert: readFileSync(cert), key: readFileSync(key) });
  wss = new WebSocketServer({ server, ...options });
  server.listen(0, '127.0.0.1');
} else {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  server = wss;
}
server.on('listening', () => {
  console.log(`listening on ${cert ? 'wss' : 'ws'}://127.0.0.1:${server.address().port}`);
});

wss.on('connection', (ws) => {
  ws.on('error', (error) => console.error(`connection error: ${error.message}`));
  ws.on('close', (code, reason) => {
    // 1005: a close frame without a code; 1006: no close frame at all.
    if (code !== 1006) lastClose = `${code} ${reason.toString()}`;
  });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text?.startsWith('!')) command(ws, text);
    else ws.send(data, { binary: isBinary });
  });
});

/** Runs one `!` command. */
function command(ws, line) {
  const [name, ...words] = line.split(' ');
  const rest = words.join(' ');
  switch (name) {
    case '!close': {
      const [code, ...reason] = words;
      ws.close(Number(code), reason.join(' '));
      break;
    }
    case '!ping':
      ws.once('pong', (data) => ws.send(`pong ${data.toString()}`));
      ws.ping(rest);
      break;
    case '!fragments': {
      const [kind, count = '3'] = words;
      const n = Number(count);
      for (let i = 0; i < n; i++) {
        ws.send(`part${i}|`, { binary: kind === 'binary', fin: i === n - 1 });
      }
      break;
    }
    case '!info': {
      const deflate = ws.extensions.includes('permessage-deflate') ? 'yes' : 'no';
      ws.send(`info protocol=${ws.protocol || '-'} deflate=${deflate}`);
      break;
    }
    case '!lastclose':
      ws.send(`lastclose ${lastClose ?? 'none'}`);
      break;
    case '!frames':
      ws.send('frames ?');
      break;
    default:
      ws.send(`error unknown command ${name}`);
  }
}
