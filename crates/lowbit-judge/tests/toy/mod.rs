//! A rule-based "model" pair for the mining and feature tests: the prompt `Q a b A:` asks for
//! the two-digit answer `ab`; the response is `<filler> ␠ a b ⏎ #### ␠ a b <eos>`, where the
//! digits after `####` copy the two digits the response wrote first (so a wrong first digit
//! changes the final answer, a different filler or separator does not).

#![allow(dead_code)]

use lowbit_judge::JudgeError;
use lowbit_judge::lm::{Fed, Lm};

pub const SP: u32 = 10;
pub const NL: u32 = 11;
pub const HASH: u32 = 12;
pub const EOS: u32 = 13;
pub const SO: u32 = 14;
pub const NOW: u32 = 15;
pub const Q: u32 = 16;
pub const A: u32 = 17;

/// How the model deviates from the target's script.
#[derive(Clone, Copy)]
pub struct Style {
    /// Token of slot 0.
    pub filler: u32,
    /// Token of slot 4 (between the work and `####`).
    pub separator: u32,
    /// Added (mod 10) to the first digit it writes at slot 2.
    pub digit_shift: u32,
}

pub const TARGET: Style = Style {
    filler: SO,
    separator: NL,
    digit_shift: 0,
};

pub struct Toy {
    pub style: Style,
    pub seq: Vec<u32>,
}

impl Toy {
    pub fn new(style: Style) -> Self {
        Self {
            style,
            seq: Vec::new(),
        }
    }

    /// The next token after `seq` (which must hold a prompt ending in `A`).
    fn next(&self, seq: &[u32]) -> u32 {
        let Some(start) = seq.iter().rposition(|&t| t == A) else {
            return EOS;
        };
        let (a, b) = (seq[start - 2], seq[start - 1]);
        let r = &seq[start + 1..];
        match r.len() {
            0 => self.style.filler,
            1 | 6 => SP,
            2 => (a + self.style.digit_shift) % 10,
            3 => b,
            4 => self.style.separator,
            5 => HASH,
            7 => r[2],
            8 => r[3],
            _ => EOS,
        }
    }
}

impl Lm for Toy {
    fn vocab_size(&self) -> usize {
        18
    }
    fn hidden_size(&self) -> usize {
        3
    }
    fn max_len(&self) -> usize {
        64
    }
    fn cached(&self) -> usize {
        self.seq.len()
    }
    fn truncate(&mut self, len: usize) -> Result<(), JudgeError> {
        if len > self.seq.len() {
            return Err(JudgeError::Input("truncate beyond the cache".into()));
        }
        self.seq.truncate(len);
        Ok(())
    }
    fn feed(&mut self, tokens: &[u32], top_k: usize, hidden: bool) -> Result<Fed, JudgeError> {
        let mut fed = Fed::default();
        for &t in tokens {
            self.seq.push(t);
            let n = self.next(&self.seq);
            fed.argmax.push(n);
            if top_k > 0 {
                fed.top.push(vec![n]);
            }
            if hidden {
                // Position, input token and the style's filler: enough to tell rows apart.
                let pos = self.seq.len() as f32;
                fed.hidden
                    .push(vec![pos, t as f32, self.style.filler as f32]);
            }
        }
        Ok(fed)
    }
}

pub fn decode(ids: &[u32]) -> Result<String, JudgeError> {
    Ok(ids
        .iter()
        .map(|&t| match t {
            0..=9 => char::from(b'0' + t as u8).to_string(),
            SP => " ".into(),
            NL => "\n".into(),
            HASH => "####".into(),
            SO => "So".into(),
            NOW => "Now".into(),
            Q => "Q".into(),
            A => "A:".into(),
            _ => String::new(),
        })
        .collect())
}

pub fn prompt(a: u32, b: u32) -> Vec<u32> {
    vec![Q, a, b, A]
}
