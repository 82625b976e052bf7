//! Final answers of worked solutions, GSM8K style: the number after the last `####`, else after
//! the last "answer is", else the last number in the text.
//!
//! Parsing is tolerant, as answers written by models are: thousands separators (`1,234`), a
//! currency sign or a unit before or after the number (`$12`, `12 apples`, `12%`), a leading
//! `+`, a Unicode minus, trailing text and punctuation (`#### 12.` or `#### 12 (done)`). The
//! result is a normalised decimal string (`"1234"`, `"-3"`, `"2.5"`: no separators, no trailing
//! zeros after the point, no `-0`), so two answers are equal iff their strings are equal. The
//! official AutoJudge code compares the target's own final answers numerically (spec §6.1); its
//! parser module is not public, so this normalisation is lowbit's (documented in
//! `docs/results/autojudge.md`).

/// The final answer of `text` as a normalised number, or `None` when it holds no number.
pub fn parse_answer(text: &str) -> Option<String> {
    if let Some(i) = text.rfind("####") {
        return first_number(&text[i + 4..]);
    }
    let lower = text.to_lowercase();
    if lower.len() == text.len() {
        if let Some(i) = lower.rfind("answer is") {
            if let Some(n) = first_number(&text[i + 9..]) {
                return Some(n);
            }
        }
    }
    last_number(text)
}

/// Whether two texts have the same final answer (both must have one).
pub fn answers_equal(a: &str, b: &str) -> bool {
    matches!((parse_answer(a), parse_answer(b)), (Some(x), Some(y)) if x == y)
}

/// Whether a parsed answer equals the gold answer of a GSM8K-style solution.
pub fn is_correct(completion: &str, gold_solution: &str) -> bool {
    answers_equal(completion, gold_solution)
}

/// Every number of `s`, in order, normalised.
fn numbers(s: &str) -> Vec<String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if !c[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let negative = i > 0
            && (c[i - 1] == '-' || c[i - 1] == '\u{2212}')
            && (i < 2 || !c[i - 2].is_ascii_alphanumeric());
        let mut int = String::new();
        // Digits, with commas only between groups of exactly three digits.
        while i < c.len() {
            if c[i].is_ascii_digit() {
                int.push(c[i]);
                i += 1;
            } else if c[i] == ','
                && i + 3 < c.len() + 1
                && c.get(i + 1..i + 4)
                    .is_some_and(|g| g.iter().all(char::is_ascii_digit))
                && !c.get(i + 4).is_some_and(char::is_ascii_digit)
            {
                i += 1;
            } else {
                break;
            }
        }
        let mut frac = String::new();
        if i + 1 < c.len() && c[i] == '.' && c[i + 1].is_ascii_digit() {
            i += 1;
            while i < c.len() && c[i].is_ascii_digit() {
                frac.push(c[i]);
                i += 1;
            }
        }
        out.push(normalise(negative, &int, &frac));
    }
    out
}

fn normalise(negative: bool, int: &str, frac: &str) -> String {
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if negative && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

fn first_number(s: &str) -> Option<String> {
    numbers(s).into_iter().next()
}

fn last_number(s: &str) -> Option<String> {
    numbers(s).pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<String> {
        parse_answer(s)
    }

    #[test]
    fn gsm8k_marker_wins_over_other_numbers() {
        assert_eq!(p("3 + 4 = 7\n#### 7").as_deref(), Some("7"));
        assert_eq!(p("#### 1 then #### 12").as_deref(), Some("12"));
        assert_eq!(
            p("5 * 2 = 10. The answer is 10\n#### 11").as_deref(),
            Some("11")
        );
    }

    #[test]
    fn separators_units_signs_and_trailing_text() {
        assert_eq!(p("#### 1,234").as_deref(), Some("1234"));
        assert_eq!(
            p("#### $1,234,567.50 dollars").as_deref(),
            Some("1234567.5")
        );
        assert_eq!(p("#### 12 apples.").as_deref(), Some("12"));
        assert_eq!(p("#### 12%").as_deref(), Some("12"));
        assert_eq!(p("#### -3").as_deref(), Some("-3"));
        assert_eq!(p("#### \u{2212}3").as_deref(), Some("-3"));
        assert_eq!(p("#### +3").as_deref(), Some("3"));
        assert_eq!(p("#### 007").as_deref(), Some("7"));
        assert_eq!(p("#### 2.50").as_deref(), Some("2.5"));
        assert_eq!(p("#### 4.0").as_deref(), Some("4"));
        assert_eq!(p("#### -0").as_deref(), Some("0"));
        assert_eq!(p("#### 12.").as_deref(), Some("12"));
        // A comma not followed by exactly three digits ends the number (a list, not a separator).
        assert_eq!(p("#### 12,5").as_deref(), Some("12"));
        assert_eq!(p("#### 1,2345").as_deref(), Some("1"));
        // A hyphen inside a word is not a minus sign.
        assert_eq!(p("#### day-3").as_deref(), Some("3"));
    }

    #[test]
    fn fallbacks_answer_is_then_last_number() {
        assert_eq!(
            p("So 3 + 4 = 7. The final answer is 7.").as_deref(),
            Some("7")
        );
        assert_eq!(p("The Answer is: 42 and then 3").as_deref(), Some("42"));
        assert_eq!(p("I got 3, then 4, then 9").as_deref(), Some("9"));
        assert_eq!(p("no number here"), None);
        assert_eq!(p("#### none"), None);
        assert_eq!(p(""), None);
    }

    #[test]
    fn equality_needs_both_answers() {
        assert!(answers_equal("#### 1,000", "so 1000 it is: #### 1000.0"));
        assert!(!answers_equal("#### 10", "#### 100"));
        assert!(!answers_equal("nothing", "nothing"));
        assert!(is_correct("a b c\n#### 18", "Janet ... = 18\n#### 18"));
    }
}
