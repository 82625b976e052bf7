//! The semi-greedy search (spec §6.1) and the features (§6.2) on the rule-based pair of
//! `toy/`: formatting mismatches are unimportant, a wrong digit is important, and the features
//! are the hidden states at the mismatch positions.

mod toy;

use lowbit_judge::features::Features;
use lowbit_judge::mine::{MineConfig, mine};
use toy::*;

/// The rule-based pair: the target, and a draft with the target's answer shifted by
/// `digit_shift` and the other wording ("Now", a space separator).
fn pair(digit_shift: u32) -> (Toy, Toy) {
    let draft = Toy::new(Style {
        filler: NOW,
        separator: SP,
        digit_shift,
    });
    (Toy::new(TARGET), draft)
}

#[test]
fn formatting_only_draft_gets_every_mismatch_labelled_unimportant() {
    let (mut target, mut draft) = pair(0);
    let p = prompt(4, 2);
    let m = mine(
        "x",
        &mut target,
        &mut draft,
        &p,
        &[EOS],
        &decode,
        &MineConfig::new(),
    )
    .unwrap();
    assert_eq!(m.target_answer.as_deref(), Some("42"));
    let got: Vec<(usize, bool, u32, u32)> = m
        .mismatches
        .iter()
        .map(|x| (x.position, x.important, x.target_token, x.draft_token))
        .collect();
    // Slot 0 (filler) and slot 4 (separator), response positions 4 and 8.
    assert_eq!(got, vec![(4, false, SO, NOW), (8, false, NL, SP)]);
    // Both swaps were applied: the final response is the draft's wording with the target's answer.
    assert_eq!(decode(&m.tokens[4..]).unwrap(), "Now 42 #### 42");
    assert!(m.complete);
    assert_eq!(m.target_generations, 3);
}

#[test]
fn a_wrong_digit_is_important_and_the_search_continues_from_the_target() {
    let (mut target, mut draft) = pair(3);
    let p = prompt(4, 2);
    let m = mine(
        "y",
        &mut target,
        &mut draft,
        &p,
        &[EOS],
        &decode,
        &MineConfig::new(),
    )
    .unwrap();
    let got: Vec<(usize, bool)> = m
        .mismatches
        .iter()
        .map(|x| (x.position, x.important))
        .collect();
    assert_eq!(got, vec![(4, false), (6, true), (8, false)]);
    assert_eq!(m.mismatches[1].draft_token, 7);
    // The important swap was not applied.
    assert_eq!(decode(&m.tokens[4..]).unwrap(), "Now 42 #### 42");

    let mut f = Features::new(3, 3);
    f.push(&mut target, &mut draft, &m).unwrap();
    assert_eq!(f.rows(), 3);
    assert_eq!(f.important, vec![false, true, false]);
    assert_eq!(f.position, vec![4, 6, 8]);
    // Hidden state at position p of sequence (a) (draft token as input): [p + 1, token, filler].
    let da = &f.blocks["draft_a"];
    assert_eq!(&da[3..6], &[7.0, 7.0, NOW as f32]);
    let tb = &f.blocks["target_b"];
    assert_eq!(&tb[3..6], &[7.0, 4.0, SO as f32]);
    // p − 1 reads the shared prefix (its last token: the space of slot 1).
    assert_eq!(&f.blocks["target_prev"][3..6], &[6.0, SP as f32, SO as f32]);
    let (x, cols) = f.matrix("dd-dt").unwrap();
    assert_eq!((x.len(), cols), (18, 6));
    assert_eq!(&x[6..12], &[7.0, 7.0, NOW as f32, 7.0, 7.0, SO as f32]);
    assert!(f.matrix("nope").unwrap_err().to_string().contains("dd-dt"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.safetensors");
    f.save(&path).unwrap();
    assert_eq!(Features::load(&path).unwrap(), {
        let mut g = f.clone();
        g.problem_ids = vec!["y".into()];
        g
    });
    std::fs::write(&path, b"garbage").unwrap();
    let e = Features::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("f.safetensors") && e.contains("safetensors"),
        "{e}"
    );
}

#[test]
fn a_target_without_final_answer_gives_no_labels_and_budget_stops_early() {
    let (mut target, mut draft) = pair(0);
    let no_answer = |_: &[u32]| Ok::<_, lowbit_judge::JudgeError>("no number".to_string());
    let p = prompt(1, 2);
    let m = mine(
        "z",
        &mut target,
        &mut draft,
        &p,
        &[EOS],
        &no_answer,
        &MineConfig::new(),
    )
    .unwrap();
    assert!(m.mismatches.is_empty() && m.target_answer.is_none());
    let cfg = MineConfig::new().with_time_budget_s(0.0);
    let m = mine("w", &mut target, &mut draft, &p, &[EOS], &decode, &cfg).unwrap();
    assert!(!m.complete && m.mismatches.is_empty());
}
