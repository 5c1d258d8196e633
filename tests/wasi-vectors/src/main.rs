//! The `wasm32-wasip1` side of the comparison: reads packed vectors on
//! standard input and writes [`wasi_vectors::report`] to standard output
//! (exit status 1 and the error on standard error when a vector fails).

use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("cannot read standard input: {e}");
        std::process::exit(1);
    }
    match wasi_vectors::report(&input) {
        Ok(text) => {
            let mut stdout = std::io::stdout();
            if stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
