//! The frame decoder fed a byte stream in arbitrary splits: every result is
//! a command or a typed error, never a panic; after an error the decoder is
//! poisoned; it never buffers more than one frame's limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_core::protocol::{decode_command, FrameDecoder, FrameError};

/// A small limit so the fuzzer reaches FrameTooLong often.
const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(split).max(1);
    let mut dec = FrameDecoder::new(MAX);
    let mut failed = false;
    for chunk in stream.chunks(step) {
        dec.feed(chunk);
        loop {
            match dec.decode_next() {
                Ok(Some(_)) => assert!(!failed),
                Ok(None) => break,
                Err(FrameError::Poisoned) => {
                    assert!(failed);
                    break;
                }
                Err(_) => {
                    assert!(!failed);
                    failed = true;
                    assert!(dec.is_poisoned());
                }
            }
        }
        // Never more than one frame (plus its prefix) plus one chunk held.
        assert!(dec.buffered_len() <= MAX + 4 + step);
    }
    // The same bytes as one frame without prefix.
    let _ = decode_command(bytes::Bytes::copy_from_slice(stream));
});
