//! Throughput of the read path's hot loops, each beside the baseline it should approach:
//! frame decode with unmasking, masking against `memcpy`, and incremental UTF-8 validation
//! against `std::str::from_utf8`.
//!
//! Run with `cargo bench -p weft-proto --bench proto`; add `-- mask` (or any name) to filter.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use weft_proto::frame::apply_mask;
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

// By hand rather than with criterion_group!, whose generated `pub fn` trips missing_docs.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    decode_unmask(&mut c);
    mask_and_memcpy(&mut c);
    utf8(&mut c);
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
