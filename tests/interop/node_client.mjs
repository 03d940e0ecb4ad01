// Node `ws` as the client of a weft server (tests/interop, run by scripts/interop.sh).
//
//     node node_client.mjs [--cacert FILE] URL SCENARIO...
//
// Runs each scenario against URL on fresh connections and prints `ok SCENARIO` or
// `FAIL SCENARIO: why`, one line each; exits 1 if any failed. The scenarios are those of
// py_client.py. `ws` is loaded from $INTEROP_NODE_DIR (default: target/interop/node).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const nodeDir = process.env.INTEROP_NODE_DIR ?? join(here, '../../target/interop/node');
const WebSocket = createRequire(join(nodeDir, 'package.json'))('ws');

const PROTOCOL = 'weft.interop.v1';
const MIB = 1 << 20;
const TIMEOUT_MS = 60_000;

const note = (text) => process.stderr.write(`  ${text}\n`);

function check(condition, why) {
  if (!condition) throw new Error(why);
}

function describe(data, isBinary) {
  return `${isBinary ? 'binary' : 'text'} of ${data.length} bytes`;
}

/** Compressible but not uniform text of `size` UTF-8 bytes, with non-ASCII characters. */
function textOf(size) {
  const unit = Buffer.from('weft ✓ interop — ünïcödé 🦀 0123456789 abcdefghijklmnopqrstuvwxyz\n');
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at += unit.length) unit.copy(bytes, at);
  // Back off from a character cut at the end, and pad with ASCII.
  let end = size;
  while (end > 0 && (bytes[end - 1] & 0xc0) === 0x80) end--;
  if (end > 0 && bytes[end - 1] >= 0xc0) end--;
  bytes.fill(0x2e, end);
  return bytes.toString('utf8');
}

/** A WebSocket with a queue of received messages and a promise of its close. */
class Conn {
  static open(url, { protocols = [], ...options } = {}) {
    const ws = new WebSocket(url, protocols, { maxPayload: 0, handshakeTimeout: 10_000, ...options });
    return new Promise((resolve, reject) => {
      const conn = new Conn(ws);
      ws.once('open', () => resolve(conn));
      ws.once('error', reject);
      ws.once('unexpected-response', (_request, response) =>
        reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { status: response.statusCode })));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiting = [];
    this.pongs = [];
    ws.on('message', (data, isBinary) => this.push({ data, isBinary }));
    ws.on('pong', (data) => this.pongs.push(data));
    // After the open, an error is followed by the close, which is what the scenarios check.
    ws.on('error', (error) => note(`ws error: ${error.message}`));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.push(null);
      }));
  }

  push(item) {
    const waiter = this.waiting.shift();
    if (waiter) waiter(item);
    else this.queue.push(item);
  }

  /** The next message, or null once closed. */
  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Sends; a failed send reports the close that caused it, if one comes. */
  async send(data, options = {}) {
    try {
      await new Promise((resolve, reject) =>
        this.ws.send(data, options, (error) => (error ? reject(error) : resolve())));
    } catch (error) {
      const closed = await Promise.race([this.closed, sleep(2000)]);
      const why = closed ? `; closed with ${closed.code} '${closed.reason}'` : '';
      throw new Error(`${error.message}${why}`);
    }
  }

  async roundtrip(...messages) {
    for (const message of messages) {
      const isBinary = typeof message !== 'string';
      const sent = isBinary ? message : Buffer.from(message);
      await this.send(message);
      const got = await this.next();
      if (!got) {
        const closed = await this.closed;
        throw new Error(`sent ${describe(sent, isBinary)}, got the close ${closed.code} '${closed.reason}'`);
      }
      check(got.isBinary === isBinary,
        `sent ${describe(sent, isBinary)}, got ${describe(got.data, got.isBinary)}`);
      check(sent.equals(got.data),
        `sent ${describe(sent, isBinary)}, got different ${describe(got.data, got.isBinary)}`);
    }
    note(`echoed ${messages.map((m) => describe(Buffer.from(m), typeof m !== 'string')).join(', ')}`);
  }

  async ask(command) {
    await this.send(command);
    const got = await this.next();
    check(got && !got.isBinary, `${command}: got ${got ? describe(got.data, true) : 'the close'}`);
    return got.data.toString();
  }

  async close(code, reason) {
    this.ws.close(code, reason);
    return this.closed;
  }
}

class Client {
  constructor(url, ca) {
    this.url = url;
    this.ca = ca;
  }

  open(options = {}) {
    return Conn.open(this.url, { ca: this.ca, ...options });
  }

  async text() {
    const c = await this.open();
    await c.roundtrip('héllo wörld ✓ 🦀', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65535), textOf(65536));
    await c.close(1000);
  }

  async binary() {
    const c = await this.open();
    await c.roundtrip(Buffer.from([...Array(256).keys()]), randomBytes(126), randomBytes(65535), randomBytes(65536));
    await c.close(1000);
  }

  async empty() {
    const c = await this.open();
    await c.roundtrip('', Buffer.alloc(0));
    await c.close(1000);
  }

  async big(message) {
    const c = await this.open();
    const started = Date.now();
    await c.roundtrip(message);
    note(`16 MiB both ways in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await c.close(1000);
  }

  async '16mib-text'() {
    await this.big(textOf(16 * MIB));
  }

  async '16mib-binary'() {
    await this.big(randomBytes(16 * MIB));
  }

  async fragmented() {
    const c = await this.open();
    for (const parts of [['frag', 'men', '', 'ted ✓'], [Buffer.from([0, 1]), Buffer.alloc(0), Buffer.alloc(70000, 2)]]) {
      const binary = typeof parts[0] !== 'string';
      for (const [i, part] of parts.entries()) {
        await c.send(part, { binary, fin: i === parts.length - 1 });
      }
      const whole = Buffer.concat(parts.map((p) => Buffer.from(p)));
      const got = await c.next();
      check(got && got.isBinary === binary && whole.equals(got.data),
        `sent ${describe(whole, binary)} in ${parts.length} frames, got ${got ? describe(got.data, got.isBinary) : 'the close'}`);
    }
    note('sent text and binary in 4 and 3 frames, got them back whole');
    await c.close(1000);
  }

  async ping() {
    const c = await this.open();
    const payloads = [Buffer.from('weft-interop'), Buffer.alloc(0), Buffer.from([...Array(125).keys()])];
    for (const payload of payloads) c.ws.ping(payload);
    await c.roundtrip('after pings');
    for (let i = 0; i < 100 && c.pongs.length < payloads.length; i++) await sleep(50);
    check(c.pongs.length === payloads.length, `${payloads.length} PINGs, ${c.pongs.length} PONGs`);
    payloads.forEach((p, i) => check(p.equals(c.pongs[i]), `PONG ${i} carries other bytes`));
    note('3 PINGs (12, 0, 125 bytes) answered by PONGs with the same payload');
    await c.close(1000);
  }

  async closeWith(code, reason) {
    const c = await this.open();
    await c.roundtrip('before close');
    const answer = await c.close(code, reason);
    check(answer.code === code, `closed with ${code}, server answered ${answer.code} '${answer.reason}'`);
    note(`server echoed ${answer.code} '${answer.reason}'`);
    await this.serverSawClose(code, reason);
  }

  /** Asks a command server which close it received; an echo server just echoes. */
  async serverSawClose(code, reason) {
    const want = `lastclose ${code} ${reason}`;
    let reply;
    for (let i = 0; i < 50; i++) {
      const c = await this.open();
      reply = await c.ask('!lastclose');
      await c.close(1000, 'probe');
      if (reply === '!lastclose') return note('echo server: the close it received is not reported');
      if (reply === want) return note(`server reports '${reply}'`);
      await sleep(100);
    }
    throw new Error(`server reports '${reply}', want '${want}'`);
  }

  async 'close-4000'() {
    await this.closeWith(4000, 'bye from node');
  }

  async 'close-1000'() {
    await this.closeWith(1000, 'done');
  }

  async serverClose(code, reason) {
    const c = await this.open();
    await c.send(`!close ${code} ${reason}`);
    const got = await c.next();
    check(got === null, `expected the close, got ${got && describe(got.data, got.isBinary)}`);
    const closed = await c.closed;
    check(closed.code === code && closed.reason === reason,
      `expected ${code} '${reason}', got ${closed.code} '${closed.reason}'`);
    note(`server closed with ${closed.code} '${closed.reason}'`);
  }

  async 'server-close-4001'() {
    await this.serverClose(4001, 'bye from weft');
  }

  async 'server-close-1000'() {
    await this.serverClose(1000, 'done');
  }

  async 'server-fragmented'() {
    // ws delivers whole messages only: the frames are not seen here.
    const c = await this.open();
    for (const kind of ['text', 'binary']) {
      await c.send(`!fragments ${kind} 5`);
      const got = await c.next();
      const want = [0, 1, 2, 3, 4].map((i) => `part${i}|`).join('');
      check(got && got.isBinary === (kind === 'binary') && got.data.toString() === want,
        `${kind}: got ${got && got.data.toString()}`);
    }
    note('server sent text and binary in 5 frames each; ws reassembled them');
    await c.close(1000);
  }

  async 'server-ping'() {
    const c = await this.open();
    let pinged = null;
    c.ws.on('ping', (data) => { pinged = data.toString(); });
    const reply = await c.ask('!ping from-weft');
    check(reply === 'pong from-weft', `got '${reply}'`);
    check(pinged === 'from-weft', `ws saw PING '${pinged}'`);
    note("server's PING seen and answered; the server saw the PONG");
    await c.close(1000);
  }

  async subprotocol() {
    const c = await this.open({ protocols: ['weft.interop.v9', PROTOCOL] });
    check(c.ws.protocol === PROTOCOL, `negotiated '${c.ws.protocol}'`);
    await c.roundtrip('with a subprotocol');
    note(`offered weft.interop.v9, ${PROTOCOL}; server chose ${c.ws.protocol}`);
    await c.close(1000);
  }

  async 'subprotocol-required'() {
    try {
      const c = await this.open();
      await c.close(1000);
    } catch (error) {
      check(error.status === 400, `refused with ${error.message}, want HTTP 400`);
      return note('offering no subprotocol: refused with 400');
    }
    throw new Error('accepted without a subprotocol');
  }

  async compressedTraffic(c) {
    await c.roundtrip(textOf(MIB), randomBytes(64 * 1024), 'short', Buffer.alloc(200));
  }

  async deflate() {
    const c = await this.open();
    check(c.ws.extensions.includes('permessage-deflate'), `negotiated '${c.ws.extensions}'`);
    await this.compressedTraffic(c);
    note(`negotiated: ${c.ws.extensions}`);
    await c.close(1000);
  }

  async 'no-deflate'() {
    const c = await this.open();
    check(c.ws.extensions === '', `negotiated '${c.ws.extensions}'`);
    await this.compressedTraffic(c);
    note('offered permessage-deflate; the server declined');
    await c.close(1000);
  }

  async 'no-deflate-client'() {
    const c = await this.open({ perMessageDeflate: false });
    check(c.ws.extensions === '', `negotiated '${c.ws.extensions}'`);
    await this.compressedTraffic(c);
    note('offered no permessage-deflate; none negotiated');
    await c.close(1000);
  }

  async wss() {
    check(this.url.startsWith('wss://'), 'needs a wss:// URL');
    const c = await this.open({ protocols: [PROTOCOL] });
    check(c.ws.protocol === PROTOCOL, `negotiated '${c.ws.protocol}'`);
    const cipher = c.ws._socket.getCipher?.();
    await c.roundtrip('over TLS ✓', Buffer.from([...Array(256).keys()]), textOf(MIB));
    const closed = await c.close(1000, 'done');
    check(closed.code === 1000, `close answered with ${closed.code}`);
    note(`TLS ${cipher?.version ?? '?'}, the CA given with --cacert`);
  }
}

const SCENARIOS = [
  'text', 'binary', 'empty', '16mib-text', '16mib-binary', 'fragmented', 'ping', 'close-4000',
  'close-1000', 'server-close-4001', 'server-close-1000', 'server-fragmented', 'server-ping',
  'subprotocol', 'subprotocol-required', 'deflate', 'no-deflate', 'no-deflate-client', 'wss',
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result in ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main(argv) {
  let ca;
  if (argv[0] === '--cacert') {
    ca = readFileSync(argv[1]);
    argv = argv.slice(2);
  }
  const [url, ...names] = argv;
  const unknown = names.filter((n) => !SCENARIOS.includes(n));
  if (!url || !names.length || unknown.length) {
    console.error(`usage: node_client.mjs [--cacert FILE] URL SCENARIO...\n(unknown: ${unknown})`);
    return 2;
  }
  const client = new Client(url, ca);
  let failed = 0;
  for (const name of names) {
    process.stderr.write(`${name}:\n`);
    try {
      await withTimeout(client[name](), TIMEOUT_MS);
      console.log(`ok ${name}`);
    } catch (error) {
      failed++;
      console.log(`FAIL ${name}: ${error.message}`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
