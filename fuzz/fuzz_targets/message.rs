//! Message decoding: stored-message records (pull bodies, with and without
//! decompression and CRC checks), batch bodies, properties, message ids and
//! the three decompressors under a small output limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_fuzz::message_decoders;

fuzz_target!(|data: &[u8]| {
    message_decoders(data);
});
