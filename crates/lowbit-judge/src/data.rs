//! Problems as GSM8K-style jsonl: one JSON object per line with `question` and `answer` (a
//! worked solution ending in `#### N`) and an optional `id` (GSM8K's own files have none: the
//! 1-based line number is used). The prompt and training-text formats of lowbit's judge models
//! live here too, so mining, features and decoding all see the same text.

use crate::answer::parse_answer;
use crate::error::{JudgeError, io};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable identifier (prompt-level splits and resumable outputs key on it).
    pub id: String,
    /// The question.
    pub question: String,
    /// The worked solution, ending in `#### N`.
    pub answer: String,
}

#[derive(Deserialize)]
struct Line {
    id: Option<serde_json::Value>,
    question: Option<String>,
    answer: Option<String>,
}

impl Problem {
    /// The text a model continues: `Question: …\nAnswer:`.
    pub fn prompt(&self) -> String {
        prompt(&self.question)
    }

    /// The text a judge model is trained on: the prompt, a space and the worked solution.
    pub fn training_text(&self) -> String {
        format!("{} {}", self.prompt(), self.answer)
    }

    /// The gold final answer (normalised, [`parse_answer`]).
    pub fn gold(&self) -> Option<String> {
        parse_answer(&self.answer)
    }
}

/// The prompt of a question (see [`Problem::prompt`]).
pub fn prompt(question: &str) -> String {
    format!("Question: {}\nAnswer:", question.trim())
}

/// Reads a GSM8K-style jsonl file. Blank lines are skipped.
///
/// # Errors
/// [`JudgeError::Io`] when the file cannot be read, [`JudgeError::Line`] naming the line for
/// malformed JSON, a missing or empty `question`/`answer`, an answer without a `#### N` final
/// answer, or a repeated id; [`JudgeError::File`] for a file with no problems.
pub fn read_jsonl(path: &Path) -> Result<Vec<Problem>, JudgeError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| JudgeError::Line {
            path: path.to_path_buf(),
            line,
            msg,
        };
        let l: Line = serde_json::from_str(raw)
            .map_err(|e| bad(format!("not a JSON object with question/answer: {e}")))?;
        let question = l
            .question
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| bad("missing or empty \"question\"".into()))?;
        let answer = l
            .answer
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| bad("missing or empty \"answer\"".into()))?;
        if !answer.contains("####") || parse_answer(&answer).is_none() {
            return Err(bad(
                "\"answer\" must end in `#### N` (a GSM8K-style final answer)".into(),
            ));
        }
        let id = match l.id {
            None | Some(serde_json::Value::Null) => line.to_string(),
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(v) => return Err(bad(format!("\"id\" must be a string or number, got {v}"))),
        };
        if !seen.insert(id.clone()) {
            return Err(bad(format!("id {id:?} appears twice; ids must be unique")));
        }
        out.push(Problem {
            id,
            question,
            answer,
        });
    }
    if out.is_empty() {
        return Err(JudgeError::File {
            path: path.to_path_buf(),
            msg: "holds no problems; give a jsonl file with one {\"question\", \"answer\"} object per line".into(),
        });
    }
    Ok(out)
}

/// Writes problems as jsonl (one object per line), atomically (temporary file + rename).
pub fn write_jsonl(path: &Path, problems: &[Problem]) -> Result<(), JudgeError> {
    let mut buf = Vec::new();
    for p in problems {
        serde_json::to_writer(&mut buf, p).map_err(|e| JudgeError::Input(e.to_string()))?;
        buf.push(b'\n');
    }
    write_atomic(path, &buf)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename, so a crash leaves either
/// the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JudgeError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension("tmp-write");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.jsonl");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn reads_gsm8k_lines_with_and_without_ids() {
        let (_d, p) = file(concat!(
            "{\"question\": \"q1\", \"answer\": \"1+1=2\\n#### 2\"}\n",
            "\n",
            "{\"id\": 7, \"question\": \"q2\", \"answer\": \"#### 1,000\"}\n",
        ));
        let v = read_jsonl(&p).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].id, "1");
        assert_eq!(v[1].id, "7");
        assert_eq!(v[1].gold().as_deref(), Some("1000"));
        assert_eq!(v[0].prompt(), "Question: q1\nAnswer:");
        let out = p.with_file_name("out.jsonl");
        write_jsonl(&out, &v).unwrap();
        assert_eq!(read_jsonl(&out).unwrap(), v);
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let (_d, p) = file("{\"question\": \"q\", \"answer\": \"#### 1\"}\n{not json\n");
        let e = read_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("p.jsonl:2:"), "{e}");
        let (_d, p) = file("{\"question\": \"q\", \"answer\": \"no final\"}\n");
        let e = read_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains(":1:") && e.contains("####"), "{e}");
        let (_d, p) = file("{\"answer\": \"#### 1\"}\n");
        assert!(read_jsonl(&p).unwrap_err().to_string().contains("question"));
        let (_d, p) = file("\n\n");
        assert!(
            read_jsonl(&p)
                .unwrap_err()
                .to_string()
                .contains("no problems")
        );
        let (_d, p) = file(concat!(
            "{\"id\": \"a\", \"question\": \"q\", \"answer\": \"#### 1\"}\n",
            "{\"id\": \"a\", \"question\": \"q\", \"answer\": \"#### 1\"}\n"
        ));
        assert!(read_jsonl(&p).unwrap_err().to_string().contains("twice"));
    }
}
