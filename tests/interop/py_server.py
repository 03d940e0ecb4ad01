#!/usr/bin/env python3
"""Python `websockets` as the server for weft's client (tests/interop, run by scripts/interop.sh).

    py_server.py [--no-compress] [--tls-cert FILE --tls-key FILE]

Listens on 127.0.0.1 on a free port and prints `listening on ws://127.0.0.1:PORT` (wss:// with
TLS) as its first line. Speaks the scenario protocol of crates/weft/examples/browser_page.rs:
text and binary messages are echoed as they came, and text messages starting with `!` are
commands (`!close CODE REASON`, `!ping PAYLOAD`, `!fragments text|binary N`, `!info`,
`!lastclose`, `!frames`). Subprotocol `weft.interop.v1` is chosen when offered, never required.
"""

import argparse
import asyncio
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

PROTOCOLS = ["weft.interop.v1"]

# The close frame last received from any client, for `!lastclose`.
last_close = None


async def handler(ws):
    global last_close
    frames = 0  # frames of the last data message echoed, for `!frames`
    try:
        while True:
            parts = [part async for part in ws.recv_streaming()]
            if isinstance(parts[0], str):
                message = "".join(parts)
                if message.startswith("!"):
                    if await command(ws, message, frames):
                        return
                    continue
            else:
                message = b"".join(parts)
            frames = len(parts)
            await ws.send(message)
    except ConnectionClosed as closed:
        if closed.rcvd is not None:
            last_close = (closed.rcvd.code, closed.rcvd.reason)


async def command(ws, line, frames):
    """Runs one `!` command; True when it closed the connection."""
    name, _, rest = line.partition(" ")
    if name == "!close":
        code, _, reason = rest.partition(" ")
        await ws.close(int(code), reason)
        return True
    if name == "!ping":
        pong = await ws.ping(rest.encode())
        await asyncio.wait_for(pong, 10)
        await ws.send(f"pong {rest}")
    elif name == "!fragments":
        kind, _, count = rest.partition(" ")
        parts = [f"part{i}|" for i in range(int(count or 3))]
        await ws.send([p.encode() for p in parts] if kind == "binary" else parts)
    elif name == "!info":
        deflate = any(e.name == "permessage-deflate" for e in ws.protocol.extensions)
        await ws.send(
            f"info protocol={ws.subprotocol or '-'} deflate={'yes' if deflate else 'no'}"
        )
    elif name == "!lastclose":
        if last_close is None:
            await ws.send("lastclose none")
        else:
            await ws.send(f"lastclose {last_close[0]} {last_close[1]}")
    elif name == "!frames":
        await ws.send(f"frames {frames}")
    else:
        await ws.send(f"error unknown command {name}")
    return False


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compress", action="store_true")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()

    context = None
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=PROTOCOLS,
        select_subprotocol=select_subprotocol,
        compression=None if args.no_compress else "deflate",
        ssl=context,
        max_size=None,
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if context else "ws"
        print(f"listening on {scheme}://127.0.0.1:{port}", flush=True)
        await server.serve_forever()


def select_subprotocol(connection, offered):
    """Chooses ours if offered; a client offering none is still accepted."""
    return next((p for p in PROTOCOLS if p in offered), None)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
