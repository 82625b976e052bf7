//! Imports a llama GGUF into an HF directory and prints the report.
//!
//! `cargo run -p lowbit-gguf --example import_gguf -- MODEL.gguf OUT_DIR [--force]`
//! (the `lowbit` CLI wires the same call; this example exists to try the crate on its own).

use lowbit_gguf::{GgufFile, ImportOptions, import_llama_with};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let force = args.iter().any(|a| a == "--force");
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [gguf, out] = paths.as_slice() else {
        eprintln!("usage: import_gguf MODEL.gguf OUT_DIR [--force]");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), lowbit_gguf::GgufError> {
        let g = GgufFile::open(gguf)?;
        println!(
            "GGUF v{}: {} metadata keys, {} tensors, alignment {}",
            g.version(),
            g.metadata().len(),
            g.tensors().len(),
            g.alignment()
        );
        let r = import_llama_with(&g, out.as_ref(), &ImportOptions { force })?;
        println!("tensor types: {:?}", r.tensor_types);
        println!("parameters: {}", r.parameter_count);
        println!(
            "vocab: {}, tied embeddings: {}",
            r.vocab_size, r.tied_embeddings
        );
        for f in &r.files {
            println!("wrote {}", f.display());
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
