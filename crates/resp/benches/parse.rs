//! Hot-path benchmarks: command framing and reply encoding.

use cinnabar_resp::{encode_command, parse_command, Argv, Limits, Protocol, ReplyBuf};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn bench_parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_command");

    let mut set = Vec::new();
    encode_command(
        &["SET", "key:000000012345", "some-value-of-moderate-size"],
        &mut set,
    );
    group.throughput(Throughput::Bytes(set.len() as u64));
    group.bench_function("set", |b| {
        let mut argv = Argv::new();
        b.iter(|| {
            let n = parse_command(black_box(&set), &limits, &mut argv).unwrap();
            black_box((n, argv.len()))
        })
    });

    let mut pipeline = Vec::new();
    for i in 0..16 {
        encode_command(&["GET".to_string(), format!("key:{i:012}")], &mut pipeline);
    }
    group.throughput(Throughput::Bytes(pipeline.len() as u64));
    group.bench_function("pipeline_16_get", |b| {
        let mut argv = Argv::new();
        b.iter(|| {
            let mut pos = 0;
            while let Some(n) = parse_command(&pipeline[pos..], &limits, &mut argv).unwrap() {
                black_box(argv.get(&pipeline[pos..], 1));
                pos += n;
            }
            pos
        })
    });

    let mut big = Vec::new();
    encode_command(&[&b"SET"[..], b"key", &[b'x'; 1024]], &mut big);
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("set_1kb_bulk", |b| {
        let mut argv = Argv::new();
        b.iter(|| {
            let n = parse_command(black_box(&big), &limits, &mut argv).unwrap();
            black_box((n, argv.len()))
        })
    });

    let line = b"SET key:000000012345 \"some value\"\r\n";
    group.throughput(Throughput::Bytes(line.len() as u64));
    group.bench_function("inline_set", |b| {
        let mut argv = Argv::new();
        b.iter(|| {
            let n = parse_command(black_box(line), &limits, &mut argv).unwrap();
            black_box((n, argv.len()))
        })
    });
    group.finish();
}

fn bench_reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply");
    let value = vec![b'v'; 64];
    group.bench_function("bulk_64b", |b| {
        let mut r = ReplyBuf::new(Protocol::Resp2);
        b.iter(|| {
            r.clear();
            r.bulk(black_box(&value));
            r.len()
        })
    });
    group.bench_function("integer", |b| {
        let mut r = ReplyBuf::new(Protocol::Resp2);
        b.iter(|| {
            r.clear();
            r.integer(black_box(-1_234_567_890));
            r.len()
        })
    });
    group.bench_function("double_resp3", |b| {
        let mut r = ReplyBuf::new(Protocol::Resp3);
        b.iter(|| {
            r.clear();
            r.double(black_box(1_234.567_89));
            r.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_reply);
criterion_main!(benches);
