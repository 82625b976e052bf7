//! Speculative decoding (spec §6.4) on seeded tiny Llamas: lossless speculative decoding and
//! AutoJudge at the threshold that accepts nothing give the target's greedy tokens, token for
//! token, on random prompts and windows; accepting every mismatch gives the draft's.

use burn::tensor::Device;
use lowbit_judge::head::{HeadConfig, JudgeHead, train_head};
use lowbit_judge::lm::{LlamaLm, Lm, greedy};
use lowbit_judge::specdec::{Accept, speculative, target_greedy};
use lowbit_nn::llama::LlamaConfig;
use lowbit_train::trainer::init_model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 29;
const EOS: u32 = 3;

fn model(d: usize, layers: usize, seed: u64) -> LlamaLm {
    let cfg = LlamaConfig::new(VOCAB, d, layers, 2, 2, 2 * d)
        .with_max_seq_len(48)
        .with_init_std(0.4);
    LlamaLm::new(init_model(&cfg, seed, &Device::flex()).unwrap())
}

/// A head of the right width for (draft, target) = (16, 32), fitted on random rows.
fn head() -> JudgeHead {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (rows, cols) = (200, 48);
    let x: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let y: Vec<bool> = (0..rows).map(|r| x[r * cols] > 0.0).collect();
    let g: Vec<u64> = (0..rows as u64).map(|r| r / 5).collect();
    train_head(&x, rows, cols, &y, &g, "dd-dt", &HeadConfig::new()).unwrap()
}

#[test]
fn exact_sd_and_autojudge_at_zero_equal_target_greedy() {
    let mut target = model(32, 2, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let h = head();
    let mut cases = 0;
    let mut accepted_drafts = 0usize;
    for (k, draft_seed) in [2u64, 3, 1, 4].into_iter().enumerate() {
        // Seed 1 with the target's width is the target itself: every window is accepted whole.
        let mut draft = if draft_seed == 1 {
            model(32, 2, 1)
        } else {
            model(16, 1, draft_seed)
        };
        for _ in 0..6 {
            let len = rng.random_range(1..8);
            let prompt: Vec<u32> = (0..len)
                .map(|_| rng.random_range(4..VOCAB as u32))
                .collect();
            let window = [1, 2, 3, 5, 8][rng.random_range(0..5)];
            let max_new = rng.random_range(1..30);
            let want = target_greedy(&mut target, &prompt, &[EOS], max_new).unwrap();
            assert_eq!(
                want.tokens,
                greedy(&mut target, &prompt, max_new, &[EOS]).unwrap()
            );
            let exact = speculative(
                &mut target,
                &mut draft,
                &prompt,
                &[EOS],
                max_new,
                window,
                &Accept::Exact,
            )
            .unwrap();
            assert_eq!(
                exact.tokens, want.tokens,
                "exact-sd, prompt {prompt:?}, window {window}"
            );
            assert_eq!(exact.mismatches_accepted, 0);
            assert_eq!(exact.accepted.iter().sum::<usize>(), exact.tokens.len());
            assert_eq!(exact.cycles, exact.accepted.len());
            if draft_seed == 1 {
                // The draft is the target: every cycle but the last keeps the whole window.
                let full = exact.accepted[..exact.accepted.len() - 1]
                    .iter()
                    .all(|&n| n == window);
                assert!(full, "{:?}", exact.accepted);
            }
            accepted_drafts += exact.tokens.len() - exact.cycles;
            if k < 2 {
                let top1 = speculative(
                    &mut target,
                    &mut draft,
                    &prompt,
                    &[EOS],
                    max_new,
                    window,
                    &Accept::TopK(1),
                )
                .unwrap();
                assert_eq!(top1.tokens, want.tokens);
                let zero = Accept::Judge {
                    head: &h,
                    threshold: 0.0,
                };
                let aj = speculative(
                    &mut target,
                    &mut draft,
                    &prompt,
                    &[EOS],
                    max_new,
                    window,
                    &zero,
                )
                .unwrap();
                assert_eq!(
                    aj.tokens, want.tokens,
                    "autojudge at 0, prompt {prompt:?}, window {window}"
                );
                assert_eq!(aj.mismatches_accepted, 0);
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 24);
    assert!(accepted_drafts > 0);
}

#[test]
fn accepting_every_mismatch_gives_the_drafts_greedy_output() {
    let mut target = model(32, 2, 1);
    let mut draft = model(16, 1, 2);
    let h = head();
    let all = Accept::Judge {
        head: &h,
        threshold: 2.0,
    };
    for (prompt, window) in [(vec![5u32, 9, 11], 4), (vec![20], 7)] {
        let want = greedy(&mut draft, &prompt, 20, &[EOS]).unwrap();
        let got = speculative(&mut target, &mut draft, &prompt, &[EOS], 20, window, &all).unwrap();
        assert_eq!(got.tokens, want);
        // No correction token is ever needed: each cycle keeps its whole window.
        let full = got.accepted[..got.accepted.len() - 1]
            .iter()
            .all(|&n| n == window);
        assert!(full, "{:?}", got.accepted);
        let big = speculative(
            &mut target,
            &mut draft,
            &prompt,
            &[EOS],
            20,
            window,
            &Accept::TopK(VOCAB),
        )
        .unwrap();
        assert_eq!(big.tokens, want);
    }
}

#[test]
fn bad_inputs_are_refused_with_a_reason() {
    let mut target = model(32, 2, 1);
    let mut draft = model(16, 1, 2);
    let e = speculative(&mut target, &mut draft, &[], &[EOS], 5, 4, &Accept::Exact).unwrap_err();
    assert!(e.to_string().contains("no tokens"), "{e}");
    let e = speculative(&mut target, &mut draft, &[1], &[EOS], 5, 0, &Accept::Exact).unwrap_err();
    assert!(e.to_string().contains("window"), "{e}");
    let e = speculative(&mut target, &mut draft, &[99], &[EOS], 5, 2, &Accept::Exact).unwrap_err();
    assert!(e.to_string().contains("vocabulary"), "{e}");
    let cfg = LlamaConfig::new(VOCAB + 1, 16, 1, 2, 2, 32).with_max_seq_len(48);
    let mut other = LlamaLm::new(init_model(&cfg, 1, &Device::flex()).unwrap());
    let e = speculative(&mut target, &mut other, &[1], &[EOS], 5, 2, &Accept::Exact).unwrap_err();
    assert!(e.to_string().contains("share a tokenizer"), "{e}");
    // A head trained for other widths is refused when it first decides.
    let h = head();
    let mut wide = model(32, 1, 7);
    let judge = Accept::Judge {
        head: &h,
        threshold: 0.5,
    };
    let e = speculative(&mut target, &mut wide, &[5, 6], &[EOS], 20, 4, &judge).unwrap_err();
    assert!(e.to_string().contains("features"), "{e}");
    assert_eq!(target.vocab_size(), VOCAB);
}
