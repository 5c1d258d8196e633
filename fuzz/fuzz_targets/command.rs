//! Command decoders: a frame (without its length prefix) decoded, then read
//! as every typed response and broker-request header and every JSON body the
//! client reads, then re-encoded. Typed errors only, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_fuzz::command_decoders;

fuzz_target!(|data: &[u8]| {
    command_decoders(data);
});
