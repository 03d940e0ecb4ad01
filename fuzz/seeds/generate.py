#!/usr/bin/env python3
"""Writes the committed seed corpus: a few valid inputs per fuzz target, so the fuzzer starts
past the parsers' first checks instead of rediscovering the protocol byte by byte.

Run from anywhere; rewrites fuzz/seeds/<target>/*. The connection targets' first two bytes
are options and a chunk seed (see weft_fuzz::run_connection); the handshake targets' first
byte is where the input is cut in two.
"""

import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7's example key

# Option bytes for run_connection: bit 0 fragment mode, bit 1 auto-PONG, bits 2-4 size-limit
# index (7 = default), bits 5-7 chunk-limit index (7 = whole, 4 = 16 bytes, 0 = 1 byte).
WHOLE = 0xFE
SMALL_CHUNKS = 0x9E
BYTEWISE = 0x1E
FRAGMENTS = 0x01


def frame(opcode, payload, fin=True, masked=False):
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


def conversations(masked):
    f = lambda *a, **k: frame(*a, masked=masked, **k)
    return {
        "text": f(0x1, b"Hello"),
        "fragmented": f(0x1, b"Hel", fin=False) + f(0x9, b"ping") + f(0x0, "lo €".encode()),
        "binary_16bit_len": f(0x2, bytes(range(256)) * 2),
        "close": f(0x8, close_payload(1000, b"bye")),
        "ping_then_close": f(0x9, b"are you there") + f(0xA, b"") + f(0x8, b""),
    }


def write(target, name, data):
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    for target, masked in [("conn_server", True), ("conn_client", False)]:
        for name, wire in conversations(masked).items():
            write(target, name, bytes([WHOLE, 0]) + wire)
        convo = conversations(masked)
        write(target, "fragmented_small_chunks", bytes([SMALL_CHUNKS, 7]) + convo["fragmented"])
        write(target, "fragmented_bytewise", bytes([BYTEWISE, 0]) + convo["fragmented"])
        write(target, "fragment_mode", bytes([FRAGMENTS | SMALL_CHUNKS, 3]) + convo["fragmented"])

    write("frame_decode", "masked_text", frame(0x1, b"Hello", masked=True))
    write("frame_decode", "len16", frame(0x2, bytes(300))[:4])
    write("frame_decode", "len64_masked", frame(0x2, bytes(70000), masked=True)[:14])
    write("frame_decode", "close", frame(0x8, close_payload(1001)))
    write("frame_decode", "continuation", frame(0x0, b"x", fin=False))

    request = (
        b"GET /chat?room=1 HTTP/1.1\r\n"
        b"Host: server.example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Origin: http://example.com\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n"
    )
    write("handshake_request", "upgrade", b"\xff" + request)
    write("handshake_request", "upgrade_split", b"\x40" + request + frame(0x1, b"hi", masked=True))
    write(
        "handshake_request",
        "minimal",
        b"\x80GET / HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
        b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    write("handshake_request", "wrong_version", b"\xff" + request.replace(b": 13", b": 8"))

    response = (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: @ACCEPT@\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n"
        b"\r\n"
    )
    write("handshake_response", "switching", b"\xff" + response)
    write("handshake_response", "switching_split", b"\x60" + response + frame(0x1, b"hi"))
    write(
        "handshake_response",
        "plain_101",
        b"\xffHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
        b"Sec-WebSocket-Accept: @ACCEPT@\r\n\r\n",
    )
    write(
        "handshake_response",
        "not_found",
        b"\x80HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nno such ws",
    )

    for name, value in {
        "deflate": b"permessage-deflate; client_max_window_bits",
        "list": b"permessage-deflate; client_max_window_bits; server_no_context_takeover, "
        b"permessage-deflate",
        "quoted": b'permessage-deflate; server_max_window_bits="10"',
        "empty_elements": b" , foo ,, bar; baz=1 ,",
    }.items():
        write("extensions_header", name, value)


if __name__ == "__main__":
    main()
