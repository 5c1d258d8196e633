//! The tolerant JSON reader and the route parser, then the route table the
//! client derives from a parsed route.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq_fuzz::route_json;

fuzz_target!(|data: &[u8]| {
    route_json(data);
});
