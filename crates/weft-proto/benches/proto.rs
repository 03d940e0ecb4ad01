//! Throughput of the hot loops, each beside the baseline it should approach: frame decode
//! with unmasking, a client's masked send, masking (in place and while copying) against
//! `memcpy`, appending in pieces (`copy::append`) against one `memcpy` where the buffers sit
//! in `memcpy`'s slow case, and incremental UTF-8 validation against `std::str::from_utf8`.
//!
//! Run with `cargo bench -p weft-proto --bench proto`; add `-- mask` (or any name) to filter.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use weft_proto::copy;
use weft_proto::frame::{apply_mask, extend_masked};
use weft_proto::utf8::Utf8Validator;
use weft_proto::{Config, Connection, Message, Role};

const DECODE_SIZES: [usize; 4] = [16, 1024, 64 << 10, 1 << 20];
const SIZES: [usize; 3] = [1024, 64 << 10, 1 << 20];

fn decode_unmask(c: &mut Criterion) {
    let mut group = short_group(c, "decode_unmask");
    for size in DECODE_SIZES {
        let frame = masked_binary_frame(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            let mut server = Connection::new(Role::Server, Config::default());
            let mut buf = BytesMut::with_capacity(frame.len());
            b.iter(|| {
                // The copy in is part of the time, as a socket read would be. The message is
                // handed out from `buf` without a copy; once the event is dropped,
                // `extend_from_slice` reclaims the same allocation.
                buf.clear();
                buf.extend_from_slice(&frame);
                server
                    .handle_data(&mut buf)
                    .expect("the frame a client wrote is valid");
                black_box(server.poll_event())
            });
            assert!(
                server.poll_event().is_none(),
                "one frame must yield one event"
            );
        });
    }
    group.finish();
}

/// A client queues a message (masking a copy of it into its send queue) and the queue is
/// written out; the payload is shared, so the copy is the only pass over it besides the mask.
fn client_send(c: &mut Criterion) {
    let mut group = short_group(c, "client_send");
    for size in SIZES {
        let payload = bytes::Bytes::from(vec![0x5a_u8; size]);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            let mut client = Connection::new(Role::Client, Config::default());
            b.iter(|| {
                client
                    .send(Message::Binary(payload.clone()))
                    .expect("an open connection accepts a message");
                let queued = client.pending_transmit();
                black_box(client.transmit_slices(&mut [std::io::IoSlice::new(&[])]));
                client.advance_transmit(queued);
            });
        });
    }
    group.finish();
}

fn mask_and_memcpy(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut group = short_group(c, "mask");
    for size in SIZES {
        let mut buf = vec![0x5a_u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), key, 0));
        });
    }
    group.finish();

    // What a client's send does: the copy into its queue and the mask, in one pass.
    let mut group = short_group(c, "mask_copy");
    for size in SIZES {
        let src = vec![0x5a_u8; size];
        let mut dst = Vec::with_capacity(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                dst.clear();
                extend_masked(black_box(&mut dst), black_box(&src), key, 0);
            });
        });
    }
    group.finish();

    let mut group = short_group(c, "memcpy");
    for size in SIZES {
        let src = vec![0x5a_u8; size];
        let mut dst = vec![0_u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| black_box(&mut dst).copy_from_slice(black_box(&src)));
        });
    }
    group.finish();
}

/// Appends into a buffer whose end lies `distance` bytes past the source modulo 4 KiB: one
/// `extend_from_slice` against `copy::append`. At distances of 1 to 31, glibc's `rep movsb`
/// (used past 2112 bytes on processors with FSRM) runs many times slower on AMD.
fn copy_placement(c: &mut Criterion) {
    let mut group = short_group(c, "copy");
    for size in [4 << 10, 16 << 10, 64 << 10] {
        let src = vec![0x5a_u8; size];
        for distance in [8, 2048] {
            let mut dst: Vec<u8> = Vec::with_capacity(size + 8192);
            let lead =
                (src.as_ptr() as usize + distance).wrapping_sub(dst.as_ptr() as usize) % 4096;
            dst.resize(lead, 0);
            group.throughput(Throughput::Bytes(size as u64));
            for (name, append) in [
                (
                    "extend_from_slice",
                    Vec::extend_from_slice as fn(&mut Vec<u8>, &[u8]),
                ),
                ("append", |dst: &mut Vec<u8>, src: &[u8]| {
                    copy::append(dst, src)
                }),
            ] {
                let id = BenchmarkId::new(format!("{name}/distance_{distance}"), size);
                group.bench_function(id, |b| {
                    b.iter(|| {
                        dst.truncate(lead);
                        append(black_box(&mut dst), black_box(&src));
                    });
                });
            }
        }
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let texts: Vec<String> = SIZES.iter().map(|&size| mixed_text(size)).collect();

    let mut group = short_group(c, "utf8");
    for text in &texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(text.len()), |b| {
            b.iter(|| {
                let mut validator = Utf8Validator::new();
                validator
                    .feed(black_box(text.as_bytes()))
                    .expect("valid text");
                validator.finish().expect("valid text")
            });
        });
    }
    group.finish();

    let mut group = short_group(c, "from_utf8");
    for text in &texts {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(text.len()), |b| {
            b.iter(|| std::str::from_utf8(black_box(text.as_bytes())).is_ok());
        });
    }
    group.finish();
}

/// JSON-like text: the same keys every record, values that vary, as an API feed sends.
fn json_like(len: usize) -> Vec<u8> {
    let mut out = String::with_capacity(len + 128);
    let mut i = 0u64;
    out.push('[');
    while out.len() < len {
        i += 1;
        out.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"score\":{}.{},\"active\":{},\"tags\":[\"t{}\",\"t{}\"]}},",
            i * 7919 % 1000,
            i * 31 % 100,
            i % 10,
            i % 3 == 0,
            i % 5,
            i % 11
        ));
    }
    out.truncate(len);
    out.into_bytes()
}

/// permessage-deflate round trip (compress on one side, inflate on the other) for 1 KiB and
/// 64 KiB JSON-like messages, with context takeover on, at the default settings (12-bit
/// window, level 1). The compression ratio is printed once per size.
fn deflate(c: &mut Criterion) {
    use weft_proto::extensions::deflate::{Deflate, DeflateConfig, DeflateParams};
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 12,
        client_max_window_bits: 12,
    };
    let config = DeflateConfig::default();
    let mut group = short_group(c, "deflate");
    for size in [1024usize, 64 << 10] {
        let payload = bytes::Bytes::from(json_like(size));
        let mut server = Connection::new(Role::Server, Config::default())
            .with_deflate(Deflate::new(Role::Server, params, &config));
        let mut client = Connection::new(Role::Client, Config::default())
            .with_deflate(Deflate::new(Role::Client, params, &config));
        let mut wire = BytesMut::new();
        // One warm message so the shared window holds a previous record, as it would.
        let mut round_trip = |wire: &mut BytesMut| {
            server
                .send(Message::Text(
                    weft_proto::Text::from_utf8(payload.clone()).expect("ASCII"),
                ))
                .expect("open");
            wire.clear();
            while let Some(t) = server.poll_transmit() {
                wire.extend_from_slice(t.as_data().expect("data"));
            }
            let on_wire = wire.len();
            client.handle_data(wire).expect("valid");
            black_box(client.poll_event());
            on_wire
        };
        let on_wire = round_trip(&mut wire);
        eprintln!(
            "deflate/{size}: {size} bytes -> {on_wire} on the wire (ratio {:.2})",
            size as f64 / on_wire as f64
        );
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| round_trip(&mut wire))
        });
    }
    group.finish();
}

// By hand rather than with criterion_group!, whose generated `pub fn` trips missing_docs.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    decode_unmask(&mut c);
    client_send(&mut c);
    mask_and_memcpy(&mut c);
    copy_placement(&mut c);
    utf8(&mut c);
    deflate(&mut c);
    c.final_summary();
}

/// A group with short timings, so the whole suite runs in about a minute on two cores.
fn short_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    group
}

/// One binary frame of `size` zero bytes as a client writes it: masked with a random key.
fn masked_binary_frame(size: usize) -> Vec<u8> {
    let mut client = Connection::new(Role::Client, Config::default());
    client
        .send(Message::binary(vec![0_u8; size]))
        .expect("an open connection accepts a message");
    let mut frame = Vec::with_capacity(size + 14);
    while let Some(chunk) = client.poll_transmit() {
        frame.extend_from_slice(chunk.as_data().expect("only data before a close"));
    }
    frame
}

/// Text of exactly `size` bytes mixing ASCII with 2-, 3- and 4-byte characters, roughly as
/// chat messages in several scripts do.
fn mixed_text(size: usize) -> String {
    const SAMPLE: &str = "Hello, world! Grüße aus Köln. Καλημέρα κόσμε. こんにちは世界 🌍🎉 ";
    let mut text = String::with_capacity(size + SAMPLE.len());
    while text.len() < size {
        text.push_str(SAMPLE);
    }
    let mut cut = size;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    // Pad a cut character with ASCII so every size is exact and throughput compares directly.
    while text.len() < size {
        text.push('.');
    }
    text
}
