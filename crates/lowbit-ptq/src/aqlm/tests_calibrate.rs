//! Calibration-level properties of AQLM: results independent of the thread count, the f32
//! Adam GEMM close to f64, the relative-tolerance stop, typed errors for bad shapes and options
//! (data helpers shared with `tests.rs`).

use super::tests::{bits, opts};
use super::*;
use crate::PtqError;
use crate::test_support::aqlm_problem as problem;

#[test]
fn independent_of_the_thread_count() {
    let (rows, cols) = (70, 48);
    let (w, xtx) = problem(rows, cols, 11);
    for (name, f32_gemm) in [("vq:2x4g8", false), ("vq:1x6g8", true)] {
        let o = AqlmOptions {
            beam_size: 2,
            shuffle: true,
            kmeans_init: KmeansInit::Random,
            seed: 42,
            f32_gemm,
            ..opts(name)
        };
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| aqlm(&w, rows, cols, &xtx, &o).unwrap())
        };
        let base = run(1);
        for t in [2, 3, 5] {
            let r = run(t);
            assert_eq!(r.codes, base.codes, "{name} threads {t}");
            assert_eq!(bits(&r.codebooks), bits(&base.codebooks));
            assert_eq!(bits(&r.scales), bits(&base.scales));
            assert_eq!(r.trace, base.trace);
        }
        // the seed matters only where randomness is asked for
        let other = aqlm(
            &w,
            rows,
            cols,
            &xtx,
            &AqlmOptions {
                seed: 43,
                ..o.clone()
            },
        )
        .unwrap();
        assert_ne!(other.codes, base.codes, "{name}");
    }
}

#[test]
fn f32_gemm_is_close_to_f64() {
    let (rows, cols) = (64, 32);
    let (w, xtx) = problem(rows, cols, 13);
    let a = aqlm(
        &w,
        rows,
        cols,
        &xtx,
        &AqlmOptions {
            f32_gemm: false,
            ..opts("vq:2x4g8")
        },
    )
    .unwrap();
    let b = aqlm(
        &w,
        rows,
        cols,
        &xtx,
        &AqlmOptions {
            f32_gemm: true,
            ..opts("vq:2x4g8")
        },
    )
    .unwrap();
    let (fa, fb) = (*a.trace.last().unwrap(), *b.trace.last().unwrap());
    assert!((fa / fb - 1.0).abs() < 1e-3, "{fa} vs {fb}");
}

#[test]
fn tolerance_stops_at_the_start_of_an_epoch() {
    let (rows, cols) = (64, 32);
    let (w, xtx) = problem(rows, cols, 17);
    let o = AqlmOptions {
        max_epochs: 50,
        relative_tolerance: Some(0.2),
        ..opts("vq:2x4g8")
    };
    let r = aqlm(&w, rows, cols, &xtx, &o).unwrap();
    let last = r.epochs.last().unwrap();
    assert!(r.epochs.len() < 50 && last.stopped_by_tolerance && last.search.is_none());
    assert!(
        r.epochs[..r.epochs.len() - 1]
            .iter()
            .all(|e| !e.stopped_by_tolerance)
    );
    assert_eq!(r.trace.len(), r.epochs.len() - 1);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (rows, cols) = (16, 32);
    let (w, xtx) = problem(rows, cols, 19);
    let o = opts("vq:2x4g8");
    let e = aqlm(&w[1..], rows, cols, &xtx, &o).unwrap_err();
    assert!(matches!(e, PtqError::Shape { what: "weight", .. }), "{e}");
    let e = aqlm(&w, rows, cols, &xtx[..cols * (cols - 1)], &o).unwrap_err();
    assert!(matches!(e, PtqError::Shape { what: "xtx", .. }), "{e}");
    let e = aqlm(&w, 0, cols, &[], &o).unwrap_err();
    assert!(matches!(e, PtqError::Shape { .. }), "{e}");
    let e = aqlm(&w[..rows * 30], rows, 30, &xtx[..900], &o).unwrap_err();
    assert!(
        matches!(e, PtqError::GroupSize { group: 8, cols: 30 }),
        "{e}"
    );
    // 16·32/8 = 64 groups < 256 entries
    let e = aqlm(&w, rows, cols, &xtx, &opts("vq:1x8g8")).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::TooFewGroups {
                groups: 64,
                codebook_size: 256,
                group: 8
            }
        ),
        "{e}"
    );
    let mut wn = w.clone();
    wn[5] = f32::NAN;
    let e = aqlm(&wn, rows, cols, &xtx, &o).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::NonFinite {
                what: "weight",
                index: 5,
                ..
            }
        ),
        "{e}"
    );
    let mut xn = xtx.clone();
    xn[9] = f32::INFINITY;
    let e = aqlm(&w, rows, cols, &xn, &o).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::NonFinite {
                what: "xtx",
                index: 9,
                ..
            }
        ),
        "{e}"
    );
    // a constant weight has fewer distinct groups than entries
    let e = aqlm(&vec![0.5; rows * cols], rows, cols, &xtx, &o).unwrap_err();
    assert!(matches!(e, PtqError::InvalidOption { .. }), "{e}");
    for bad in [
        AqlmOptions {
            beam_size: 0,
            ..o.clone()
        },
        AqlmOptions {
            lr: 0.0,
            ..o.clone()
        },
        AqlmOptions {
            lr: f32::NAN,
            ..o.clone()
        },
        AqlmOptions {
            betas: (1.0, 0.9),
            ..o.clone()
        },
        AqlmOptions {
            relative_tolerance: Some(1.5),
            ..o.clone()
        },
        AqlmOptions {
            relative_tolerance: Some(f64::NAN),
            ..o.clone()
        },
    ] {
        let e = aqlm(&w, rows, cols, &xtx, &bad).unwrap_err();
        assert!(matches!(e, PtqError::InvalidOption { .. }), "{e}");
    }
    let bad_spec = AqlmOptions {
        spec: VqSpec {
            num_codebooks: 0,
            nbits: 4,
            group: 8,
        },
        ..o.clone()
    };
    assert!(matches!(
        aqlm(&w, rows, cols, &xtx, &bad_spec),
        Err(PtqError::Format(lowbit_formats::FormatError::VqName { .. }))
    ));
    // calibrate / beam search with a start that does not fit
    let start = init_residual_kmeans(&w, rows, cols, o.spec, 10, KmeansInit::Spaced, 0)
        .unwrap()
        .weight;
    let e = calibrate(&w, &xtx, start.clone(), &opts("vq:2x3g8")).unwrap_err();
    assert!(matches!(e, PtqError::InvalidOption { .. }), "{e}");
    let mut v = start.clone();
    let e = beam_search(&w, &xtx, &mut v, 1, Some(&[(4, 0)])).unwrap_err();
    assert!(matches!(e, PtqError::InvalidOption { .. }), "{e}");
    let e = beam_search(&w, &xtx, &mut v, 0, None).unwrap_err();
    assert!(matches!(e, PtqError::InvalidOption { .. }), "{e}");
    let e = beam_search(&w[..rows * 16], &xtx, &mut v, 1, None).unwrap_err();
    assert!(matches!(e, PtqError::Shape { .. }), "{e}");
    let mut adam = AdamState::new(&start, 1e-4, (0.0, 0.95));
    let mut small = VqWeight::new(
        VqSpec::parse("vq:1x2g8").unwrap(),
        rows,
        cols,
        vec![0; rows * 4],
        vec![0.1; 32],
        vec![1.0; rows],
    )
    .unwrap();
    let e = adam_steps(&w, &xtx, &mut small, &mut adam, 1, false).unwrap_err();
    assert!(matches!(e, PtqError::InvalidOption { .. }), "{e}");
}
