//! Replays every committed corpus and regression input through the target
//! bodies, without libFuzzer: `cargo test` in `fuzz/` (stable toolchain).

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            run(&data);
            n += 1;
        }
    }
    eprintln!("{target}: {n} inputs replayed");
}

#[test]
fn frame_inputs_replay_without_panics() {
    replay("frame", |d| {
        let mut dec = rmq_core::protocol::FrameDecoder::new(64 * 1024);
        dec.feed(d);
        while let Ok(Some(_)) = dec.decode_next() {}
    });
}

#[test]
fn command_inputs_replay_without_panics() {
    replay("command", rmq_fuzz::command_decoders);
}

#[test]
fn message_inputs_replay_without_panics() {
    replay("message", rmq_fuzz::message_decoders);
}

#[test]
fn route_json_inputs_replay_without_panics() {
    replay("route_json", rmq_fuzz::route_json);
}

#[test]
fn engine_inputs_replay_without_panics() {
    replay("engine", rmq_fuzz::engine::run);
}
