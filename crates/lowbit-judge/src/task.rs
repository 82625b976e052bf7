//! A seeded generator of checkable multi-step arithmetic word problems (spec §6.6: the
//! small-scale stand-in for GSM8K). Each problem is a start value and `steps` operations, told
//! in words with varied phrasing; the worked solution gives one equation per step and ends in
//! `#### N`, as GSM8K does. The varied wording is what AutoJudge needs: a draft and a target
//! that phrase a step differently disagree on tokens that do not change the answer, while a
//! wrong digit does.

use crate::data::Problem;
use crate::error::JudgeError;
use burn::config::Config;
use rand::Rng;
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// Difficulty of the generated problems.
#[derive(Config, Debug)]
pub struct ArithmeticConfig {
    /// Operations after the start value (1..=8).
    #[config(default = 2)]
    pub steps: usize,
    /// Largest start value and operand (2..=1_000_000); running values stay in 0..=4·max_value.
    #[config(default = 20)]
    pub max_value: u32,
    /// Also draw "k times as many" steps (k in 2..=3).
    #[config(default = false)]
    pub multiply: bool,
}

const NAMES: [(&str, &str); 12] = [
    ("Tom", "he"),
    ("Anna", "she"),
    ("Ben", "he"),
    ("Mia", "she"),
    ("Sam", "he"),
    ("Lily", "she"),
    ("Jack", "he"),
    ("Emma", "she"),
    ("Leo", "he"),
    ("Zoe", "she"),
    ("Max", "he"),
    ("Ella", "she"),
];
const ITEMS: [&str; 10] = [
    "apples", "books", "coins", "stamps", "marbles", "pencils", "cards", "shells", "stickers",
    "cookies",
];
const ADD_Q: [&str; 4] = [
    "buys {b} more",
    "finds {b} more",
    "gets {b} more from a friend",
    "picks up {b} more",
];
const SUB_Q: [&str; 3] = ["gives away {b}", "sells {b}", "loses {b}"];
const MUL_Q: [&str; 2] = [
    "ends up with {b} times as many",
    "makes the pile {b} times as big",
];
// The same equation in different words: wording mismatches that do not change the answer.
const STEP_A: [&str; 3] = [
    "After that, {p} has {eq} {item}.",
    "Now {p} has {eq} {item}.",
    "So {eq} {item}.",
];

fn fill(t: &str, b: u64) -> String {
    t.replace("{b}", &b.to_string())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl ArithmeticConfig {
    fn validate(&self) -> Result<(), JudgeError> {
        if !(1..=8).contains(&self.steps) {
            return Err(JudgeError::Input(format!(
                "steps = {} must be in 1..=8",
                self.steps
            )));
        }
        if !(2..=1_000_000).contains(&self.max_value) {
            return Err(JudgeError::Input(format!(
                "max_value = {} must be in 2..=1000000",
                self.max_value
            )));
        }
        Ok(())
    }

    /// Problem `index` of the stream `seed`: the same (seed, index) always gives the same
    /// problem, whatever `n` is asked for.
    pub fn problem(&self, seed: u64, index: u64) -> Result<Problem, JudgeError> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index);
        let max = u64::from(self.max_value);
        let &(name, p) = NAMES.choose(&mut rng).unwrap_or(&NAMES[0]);
        let item = *ITEMS.choose(&mut rng).unwrap_or(&ITEMS[0]);
        let mut x: u64 = rng.random_range(1..=max);
        let mut question = format!("{name} has {x} {item}.");
        let mut answer = format!("{name} starts with {x} {item}.");
        for s in 0..self.steps {
            // Subtract only what is there; multiply only small values, so numbers stay bounded.
            let mut ops = vec![0u8];
            if x >= 1 {
                ops.push(1);
            }
            if self.multiply && x <= max {
                ops.push(2);
            }
            let op = *ops.choose(&mut rng).unwrap_or(&0);
            let (phrase, eq, y) = match op {
                0 => {
                    let b = rng.random_range(1..=max);
                    let t = ADD_Q.choose(&mut rng).unwrap_or(&ADD_Q[0]);
                    (fill(t, b), format!("{x} + {b} = {}", x + b), x + b)
                }
                1 => {
                    let b = rng.random_range(1..=x.min(max));
                    let t = SUB_Q.choose(&mut rng).unwrap_or(&SUB_Q[0]);
                    (fill(t, b), format!("{x} - {b} = {}", x - b), x - b)
                }
                _ => {
                    let b = rng.random_range(2..=3u64);
                    let t = MUL_Q.choose(&mut rng).unwrap_or(&MUL_Q[0]);
                    (fill(t, b), format!("{x} * {b} = {}", x * b), x * b)
                }
            };
            let lead = if s == 0 {
                capitalise(p)
            } else {
                format!("Then {p}")
            };
            question.push_str(&format!(" {lead} {phrase}."));
            let t = STEP_A.choose(&mut rng).unwrap_or(&STEP_A[0]);
            let line = t
                .replace("{p}", p)
                .replace("{eq}", &eq)
                .replace("{item}", item);
            answer.push('\n');
            answer.push_str(&line);
            x = y;
        }
        question.push_str(&format!(" How many {item} does {name} have now?"));
        answer.push_str(&format!("\n#### {x}"));
        Ok(Problem {
            id: format!("arith-{seed}-{index}"),
            question,
            answer,
        })
    }

    /// `n` problems of the stream `seed`, skipping any whose question is in `exclude` (a
    /// held-out set drawn with another seed thus never repeats a training question).
    pub fn generate(
        &self,
        seed: u64,
        n: usize,
        exclude: &HashSet<String>,
    ) -> Result<Vec<Problem>, JudgeError> {
        self.validate()?;
        let mut out = Vec::with_capacity(n);
        let mut seen = exclude.clone();
        let mut index = 0u64;
        // Each problem has ≥ 12·10·2·(3·2)^steps distinct forms; 100 tries per wanted problem
        // only run out when `exclude` covers nearly the whole space.
        let budget = 100 * n as u64 + 1000;
        while out.len() < n {
            if index >= budget {
                return Err(JudgeError::Input(format!(
                    "only {} distinct new problems in {budget} draws; raise max_value or steps, or exclude fewer",
                    out.len()
                )));
            }
            let p = self.problem(seed, index)?;
            index += 1;
            if seen.insert(p.question.clone()) {
                out.push(p);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::parse_answer;

    /// Replays the worked solution's equations: each must be true and chain into the next.
    fn check(p: &Problem) -> u64 {
        let mut cur: Option<u64> = None;
        for line in p.answer.lines().skip(1) {
            if let Some(n) = line.strip_prefix("#### ") {
                let n: u64 = n.parse().unwrap();
                assert_eq!(Some(n), cur, "{p:?}");
                return n;
            }
            let eq = line
                .split(" has ")
                .last()
                .unwrap()
                .trim_start_matches("So ");
            let t: Vec<&str> = eq.split_whitespace().collect();
            let (a, op, b, c): (u64, &str, u64, u64) = (
                t[0].parse().unwrap(),
                t[1],
                t[2].parse().unwrap(),
                t[4].parse().unwrap(),
            );
            if let Some(prev) = cur {
                assert_eq!(a, prev, "{p:?}");
            }
            let want = match op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                _ => panic!("{op}"),
            };
            assert_eq!(c, want, "{p:?}");
            cur = Some(c);
        }
        panic!("no final answer: {p:?}")
    }

    #[test]
    fn problems_are_seeded_checkable_and_bounded() {
        let cfg = ArithmeticConfig::new().with_steps(3).with_multiply(true);
        let a = cfg.generate(5, 300, &HashSet::new()).unwrap();
        let b = cfg.generate(5, 300, &HashSet::new()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, cfg.generate(6, 300, &HashSet::new()).unwrap());
        for p in &a {
            let n = check(p);
            assert_eq!(parse_answer(&p.answer), Some(n.to_string()));
            assert_eq!(p.answer.lines().count(), 3 + 2);
            assert!(n <= 4 * 20 * 3, "{p:?}");
        }
        assert!(a.iter().any(|p| p.answer.contains(" * ")));
        assert!(a.iter().any(|p| p.answer.contains(" - ")));
        // The first problems do not depend on how many are asked for.
        assert_eq!(cfg.generate(5, 10, &HashSet::new()).unwrap()[..], a[..10]);
    }

    #[test]
    fn held_out_sets_exclude_training_questions() {
        let cfg = ArithmeticConfig::new().with_steps(1).with_max_value(3);
        let train = cfg.generate(1, 40, &HashSet::new()).unwrap();
        let ex: HashSet<String> = train.iter().map(|p| p.question.clone()).collect();
        let test = cfg.generate(2, 40, &ex).unwrap();
        assert!(test.iter().all(|p| !ex.contains(&p.question)));
        assert!(
            ArithmeticConfig::new()
                .with_steps(0)
                .generate(1, 1, &ex)
                .is_err()
        );
        assert!(
            ArithmeticConfig::new()
                .with_max_value(1)
                .generate(1, 1, &ex)
                .is_err()
        );
    }
}
