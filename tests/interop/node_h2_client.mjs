// Node's `http2` module (nghttp2) as the client of a WebSocket over HTTP/2 (RFC 8441) served
// by weft inside hyper (tests/interop, run by scripts/interop.sh).
//
//     node node_h2_client.mjs URL SCENARIO...
//
// URL is the HTTP/2 server without TLS (`http://127.0.0.1:PORT`); its `/ws` echoes. Node has
// no WebSocket over HTTP/2, so this client frames by hand (RFC 6455 §5: masked frames out,
// unmasked frames in) on the CONNECT stream. Prints `ok SCENARIO` or `FAIL SCENARIO: why`,
// one line each; exits 1 if any failed.
//
// Scenarios:
//   h2-settings     the server announces SETTINGS_ENABLE_CONNECT_PROTOCOL
//   h2-text         a text message and its echo
//   h2-binary       1 MiB binary and its echo, across many flow-control windows
//   h2-two-streams  two WebSockets on one connection, their echoes kept apart
//   h2-close-1000   a close handshake: 1000 sent, 1000 echoed, then the stream ends

import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';

const TIMEOUT_MS = 30_000;
const note = (text) => process.stderr.write(`  ${text}\n`);

function check(condition, why) {
  if (!condition) throw new Error(why);
}

/** One masked client frame (§5.2, §5.3). */
function frame(opcode, payload) {
  const length = payload.length;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + length);
  out[0] = 0x80 | opcode;
  if (length < 126) {
    out[1] = 0x80 | length;
  } else if (length < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(length), 2);
  }
  const key = randomBytes(4);
  key.copy(out, head);
  for (let i = 0; i < length; i++) out[head + 4 + i] = payload[i] ^ key[i & 3];
  return out;
}

/** A WebSocket on one HTTP/2 stream: `send` frames, `next` the server's next whole frame. */
class StreamSocket {
  constructor(stream) {
    this.stream = stream;
    this.buffered = Buffer.alloc(0);
    this.waiting = null;
    this.ended = false;
    stream.on('data', (chunk) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', (error) => {
      this.error = error;
      this.wake();
    });
  }

  wake() {
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) waiting();
  }

  send(opcode, payload) {
    this.stream.write(frame(opcode, payload));
  }

  /** The next frame as { opcode, payload }, or null once the stream has ended. */
  async next() {
    for (;;) {
      const parsed = this.parse();
      if (parsed) return parsed;
      if (this.error) throw this.error;
      if (this.ended) return null;
      await new Promise((resolve) => {
        this.waiting = resolve;
      });
    }
  }

  parse() {
    const b = this.buffered;
    if (b.length < 2) return null;
    check((b[1] & 0x80) === 0, 'the server masked a frame (RFC 6455 §5.1)');
    let length = b[1] & 0x7f;
    let at = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = b.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      if (b.length < 10) return null;
      length = Number(b.readBigUInt64BE(2));
      at = 10;
    }
    if (b.length < at + length) return null;
    check((b[0] & 0x80) !== 0, 'an echo came fragmented');
    const frame = { opcode: b[0] & 0x0f, payload: b.subarray(at, at + length) };
    this.buffered = b.subarray(at + length);
    return frame;
  }
}

/** An HTTP/2 session to `url` and the server's first SETTINGS. */
async function connect(url) {
  const session = http2.connect(url);
  const settings = await new Promise((resolve, reject) => {
    session.once('remoteSettings', resolve);
    session.once('error', reject);
  });
  return { session, settings };
}

/** Opens a WebSocket on a new stream of `session` with an extended CONNECT. */
async function open(session, url) {
  const { host } = new URL(url);
  const stream = session.request(
    {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'http',
      ':authority': host,
      ':path': '/ws',
      'sec-websocket-version': '13',
    },
    { endStream: false },
  );
  const headers = await new Promise((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
  check(headers[':status'] === 200, `status ${headers[':status']}, not 200`);
  check(!('sec-websocket-accept' in headers), 'a Sec-WebSocket-Accept in an HTTP/2 answer');
  return new StreamSocket(stream);
}

async function expectEcho(socket, opcode, payload) {
  socket.send(opcode, payload);
  const echo = await socket.next();
  check(echo !== null, 'the stream ended before the echo');
  check(echo.opcode === opcode, `opcode ${echo.opcode}, not ${opcode}`);
  check(Buffer.compare(echo.payload, payload) === 0, `echo of ${echo.payload.length} bytes differs`);
}

const scenarios = {
  async 'h2-settings'(url) {
    const { session, settings } = await connect(url);
    session.close();
    check(settings.enableConnectProtocol === true, 'SETTINGS_ENABLE_CONNECT_PROTOCOL not set');
  },

  async 'h2-text'(url) {
    const { session } = await connect(url);
    const socket = await open(session, url);
    await expectEcho(socket, 0x1, Buffer.from('hello over HTTP/2 ✓'));
    session.destroy();
  },

  async 'h2-binary'(url) {
    const { session } = await connect(url);
    const socket = await open(session, url);
    await expectEcho(socket, 0x2, randomBytes(1 << 20));
    session.destroy();
  },

  async 'h2-two-streams'(url) {
    const { session } = await connect(url);
    const first = await open(session, url);
    const second = await open(session, url);
    first.send(0x1, Buffer.from('one'));
    second.send(0x1, Buffer.from('two'));
    const two = await second.next();
    const one = await first.next();
    check(one && one.payload.toString() === 'one', 'the first stream got another echo');
    check(two && two.payload.toString() === 'two', 'the second stream got another echo');
    session.destroy();
  },

  async 'h2-close-1000'(url) {
    const { session } = await connect(url);
    const socket = await open(session, url);
    const close = Buffer.from([0x03, 0xe8, ...Buffer.from('bye')]);
    socket.send(0x8, close);
    const echo = await socket.next();
    check(echo !== null && echo.opcode === 0x8, 'no close frame came back');
    check(echo.payload.readUInt16BE(0) === 1000, `close code ${echo.payload.readUInt16BE(0)}`);
    socket.stream.end();
    const after = await socket.next();
    check(after === null, 'a frame after the close');
    session.close();
  },
};

const [url, ...names] = process.argv.slice(2);
let failed = false;
for (const name of names) {
  const run = scenarios[name];
  try {
    check(run !== undefined, 'unknown scenario');
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    });
    await Promise.race([run(url), timeout]).finally(() => clearTimeout(timer));
    console.log(`ok ${name}`);
  } catch (error) {
    failed = true;
    note(`${name}: ${error.stack ?? error}`);
    console.log(`FAIL ${name}: ${String(error.message ?? error).split('\n')[0]}`);
  }
}
process.exit(failed ? 1 : 0);
