#!/usr/bin/env python3
"""Python `websockets` as the client of a weft server (tests/interop, run by scripts/interop.sh).

    py_client.py [--cacert FILE] URL SCENARIO...

Runs each scenario against URL on fresh connections and prints `ok SCENARIO` or
`FAIL SCENARIO: why`, one line each; exits 1 if any failed. Scenarios that start with `server-`
need a server that speaks the `!` commands of crates/weft/examples/browser_page.rs; the others
need only an echo server (`weft serve`). Details of what was checked go to stderr.
"""

import argparse
import asyncio
import os
import ssl
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

PROTOCOL = "weft.interop.v1"
MIB = 1 << 20
TIMEOUT = 60


def note(text):
    print(f"  {text}", file=sys.stderr, flush=True)


def check(condition, why):
    if not condition:
        raise AssertionError(why)


def describe(value):
    if isinstance(value, str):
        return f"text of {len(value.encode())} bytes"
    return f"binary of {len(value)} bytes"


def text_of(size):
    """Compressible but not uniform text of `size` UTF-8 bytes, with non-ASCII characters."""
    unit = "weft ✓ interop — ünïcödé 🦀 0123456789 abcdefghijklmnopqrstuvwxyz\n".encode()
    data = (unit * (size // len(unit) + 1))[:size]
    text = data.decode(errors="ignore")  # drops a character cut at the end
    return text + "." * (size - len(text.encode()))


class Client:
    def __init__(self, url, ssl_context):
        self.url = url
        self.ssl = ssl_context

    def connect(self, **kwargs):
        options = dict(
            max_size=None,
            ping_interval=None,
            open_timeout=10,
            close_timeout=10,
            ssl=self.ssl,
        )
        options.update(kwargs)
        return connect(self.url, **options)

    async def roundtrip(self, ws, *messages):
        for message in messages:
            await ws.send(message)
            got = await ws.recv()
            check(type(got) is type(message), f"sent {describe(message)}, got {describe(got)}")
            check(got == message, f"sent {describe(message)}, got different {describe(got)}")
        note(f"echoed {', '.join(describe(m) for m in messages)}")

    async def ask(self, ws, command):
        await ws.send(command)
        reply = await ws.recv()
        check(isinstance(reply, str), f"{command}: got {describe(reply)}")
        return reply

    # Scenarios: each one a method named after it (dashes as underscores).

    async def text(self):
        async with self.connect() as ws:
            await self.roundtrip(ws, "héllo wörld ✓ 🦀", "x" * 125, "y" * 126, "z" * 65535,
                                 text_of(65536))

    async def binary(self):
        async with self.connect() as ws:
            await self.roundtrip(ws, bytes(range(256)), os.urandom(126), os.urandom(65535),
                                 os.urandom(65536))

    async def empty(self):
        async with self.connect() as ws:
            await self.roundtrip(ws, "", b"")

    async def big(self, message):
        async with self.connect() as ws:
            started = time.monotonic()
            await self.roundtrip(ws, message)
            note(f"16 MiB both ways in {time.monotonic() - started:.1f} s")

    async def big_text(self):
        await self.big(text_of(16 * MIB))

    async def big_binary(self):
        await self.big(os.urandom(16 * MIB))

    async def fragmented(self):
        async with self.connect() as ws:
            for parts in (["frag", "men", "", "ted ✓"], [b"\x00\x01", b"", b"\x02" * 70000]):
                await ws.send(parts)
                whole = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
                got = await ws.recv()
                check(got == whole, f"sent {describe(whole)} in {len(parts)} frames, got {describe(got)}")
            note("sent text and binary in 4 and 3 frames, got them back whole")

    async def ping(self):
        async with self.connect() as ws:
            for payload in (b"weft-interop", b"", bytes(range(125))):
                pong = await ws.ping(payload)
                await asyncio.wait_for(pong, 10)
            await self.roundtrip(ws, "after pings")
            note("3 PINGs (12, 0, 125 bytes) answered by PONGs with the same payload")

    async def close(self, code, reason):
        async with self.connect() as ws:
            await self.roundtrip(ws, "before close")
            await ws.close(code, reason)
            check(ws.close_code == code,
                  f"closed with {code}, server answered {ws.close_code} {ws.close_reason!r}")
            note(f"server echoed {ws.close_code} {ws.close_reason!r}")
        await self.server_saw_close(code, reason)

    async def server_saw_close(self, code, reason):
        """Asks a command server which close it received; an echo server just echoes."""
        want = f"lastclose {code} {reason}"
        for _ in range(50):
            async with self.connect() as ws:
                reply = await self.ask(ws, "!lastclose")
            if reply == "!lastclose":
                note("echo server: the close it received is not reported")
                return
            if reply == want:
                note(f"server reports {reply!r}")
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"server reports {reply!r}, want {want!r}")

    async def close_4000(self):
        await self.close(4000, "bye from python")

    async def close_1000(self):
        await self.close(1000, "done")

    async def server_close(self, code, reason):
        async with self.connect() as ws:
            await ws.send(f"!close {code} {reason}")
            try:
                got = await ws.recv()
                raise AssertionError(f"expected the close, got {describe(got)}")
            except ConnectionClosed:
                pass
            check((ws.close_code, ws.close_reason) == (code, reason),
                  f"expected {code} {reason!r}, got {ws.close_code} {ws.close_reason!r}")
            note(f"server closed with {ws.close_code} {ws.close_reason!r}")

    async def server_close_4001(self):
        await self.server_close(4001, "bye from weft")

    async def server_close_1000(self):
        await self.server_close(1000, "done")

    async def server_fragmented(self):
        async with self.connect() as ws:
            for kind, join in (("text", "".join), ("binary", b"".join)):
                await ws.send(f"!fragments {kind} 5")
                parts = [part async for part in ws.recv_streaming()]
                whole = join(parts)
                want = "".join(f"part{i}|" for i in range(5))
                want = want if kind == "text" else want.encode()
                check(whole == want, f"{kind}: got {whole!r}")
                check(len(parts) == 5, f"{kind}: got {len(parts)} frames, want 5")
            note("server sent text and binary in 5 frames each")

    async def server_ping(self):
        async with self.connect() as ws:
            reply = await self.ask(ws, "!ping from-weft")
            check(reply == "pong from-weft", f"got {reply!r}")
            note("server's PING answered; it saw the PONG")

    async def subprotocol(self):
        async with self.connect(subprotocols=["weft.interop.v9", PROTOCOL]) as ws:
            check(ws.subprotocol == PROTOCOL, f"negotiated {ws.subprotocol!r}")
            await self.roundtrip(ws, "with a subprotocol")
            note(f"offered weft.interop.v9, {PROTOCOL}; server chose {ws.subprotocol}")

    async def subprotocol_required(self):
        try:
            async with self.connect() as ws:
                raise AssertionError(f"accepted without a subprotocol ({ws.subprotocol!r})")
        except InvalidStatus as refused:
            status = refused.response.status_code
            check(status == 400, f"refused with {status}, want 400")
            note("offering no subprotocol: refused with 400")

    def deflate_of(self, ws):
        return [e.name for e in ws.protocol.extensions if e.name == "permessage-deflate"]

    async def compressed_traffic(self, ws):
        await self.roundtrip(ws, text_of(MIB), os.urandom(64 * 1024), "short", b"\x00" * 200)

    async def deflate(self):
        async with self.connect() as ws:
            check(self.deflate_of(ws), "permessage-deflate not negotiated")
            await self.compressed_traffic(ws)
            note(f"negotiated: {ws.response.headers.get('Sec-WebSocket-Extensions')}")

    async def no_deflate(self):
        async with self.connect() as ws:
            check(not self.deflate_of(ws), "permessage-deflate negotiated")
            await self.compressed_traffic(ws)
            note("offered permessage-deflate; the server declined")

    async def no_deflate_client(self):
        async with self.connect(compression=None) as ws:
            check(not self.deflate_of(ws), "permessage-deflate negotiated")
            await self.compressed_traffic(ws)
            note("offered no permessage-deflate; none negotiated")

    async def wss(self):
        check(self.url.startswith("wss://"), "needs a wss:// URL")
        async with self.connect(subprotocols=[PROTOCOL]) as ws:
            check(ws.subprotocol == PROTOCOL, f"negotiated {ws.subprotocol!r}")
            cipher = ws.transport.get_extra_info("cipher")
            await self.roundtrip(ws, "over TLS ✓", bytes(range(256)), text_of(MIB))
            await ws.close(1000, "done")
            check(ws.close_code == 1000, f"close answered with {ws.close_code}")
            note(f"TLS {cipher[1] if cipher else '?'}, the CA given with --cacert")


SCENARIOS = {
    name: name.replace("-", "_").replace("16mib", "big")
    for name in (
        "text", "binary", "empty", "16mib-text", "16mib-binary", "fragmented", "ping",
        "close-4000", "close-1000", "server-close-4001", "server-close-1000",
        "server-fragmented", "server-ping", "subprotocol", "subprotocol-required", "deflate",
        "no-deflate", "no-deflate-client", "wss",
    )
}


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cacert", help="trust only this CA (PEM) for wss://")
    parser.add_argument("url")
    parser.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS))
    args = parser.parse_args()

    context = None
    if args.url.startswith("wss://"):
        context = ssl.create_default_context(cafile=args.cacert)

    client = Client(args.url, context)
    failed = 0
    for name in args.scenarios:
        print(f"{name}:", file=sys.stderr, flush=True)
        try:
            await asyncio.wait_for(getattr(client, SCENARIOS[name])(), TIMEOUT)
            print(f"ok {name}", flush=True)
        except Exception as error:  # every failure is reported the same way
            failed += 1
            why = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            print(f"FAIL {name}: {why}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
