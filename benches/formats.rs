//! fake_quant throughput of the main formats on 16M N(0,1) values, on one thread and on all
//! cores (criterion reports elements/s = values/s). Targets on the 2-core CI machine:
//! NVFP4 ≥ 300 M values/s on all cores, two-grid PO2 ≥ 150 M values/s. Run:
//! `cargo bench -p lowbit-formats --bench formats`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lowbit_formats::Format;
use lowbit_formats::gmse::{GMSE_COLS, gaussian_samples};

const N: usize = 1 << 24;

fn bench(c: &mut Criterion) {
    let x = gaussian_samples(N, 0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let all = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build()
        .expect("thread pool");
    let mut g = c.benchmark_group("fake_quant_16M");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for name in [
        "nvfp4", "mxfp4", "int4", "po2-nf4", "split87", "sfp4", "nf4",
    ] {
        let f = Format::parse(name).expect("built-in format");
        for (label, pool) in [("1-thread", &one), ("all-cores", &all)] {
            g.bench_function(format!("{name}/{label}"), |b| {
                b.iter_batched_ref(
                    || x.clone(),
                    |buf| pool.install(|| f.fake_quant(buf, GMSE_COLS).expect("finite input")),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
