//! Quick throughput probe (values/s of fake_quant on 16M N(0,1) values) for profiling; the
//! measured benchmark is `benches/formats.rs`. Run:
//! `cargo run --release -p lowbit-formats --example throughput -- nvfp4 po2-nf4`.

use lowbit_formats::Format;
use lowbit_formats::gmse::{GMSE_COLS, gaussian_samples};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let x = gaussian_samples(1 << 24, 0);
    for name in std::env::args().skip(1) {
        let f = Format::parse(&name)?;
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let mut y = x.clone();
            let t = Instant::now();
            f.fake_quant(&mut y, GMSE_COLS)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{name}: {:.1} M values/s", x.len() as f64 / best / 1e6);
    }
    Ok(())
}
