//! The sans-IO client (engine, producer, push consumer, raw requests) fed
//! arbitrary responses to the requests it writes, raw bytes, closes and
//! time: never a panic, and every caller settles by shutdown.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_fuzz::engine::run;

fuzz_target!(|data: &[u8]| {
    run(data);
});
