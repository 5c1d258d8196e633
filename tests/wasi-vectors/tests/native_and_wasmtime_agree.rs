//! rmq-core's codec over its golden vectors, natively and as a
//! `wasm32-wasip1` program inside wasmtime (issue 8): the two reports
//! must be byte-identical.
//!
//! The guest is `$WASI_VECTORS_WASM` when set (`cargo xtask test` builds
//! it first), else built here with `cargo build --release --target
//! wasm32-wasip1` into its own target directory. It runs under a minimal
//! WASI preview 1 of our own (standard input, output and error, an empty
//! environment, `proc_exit`: all the program imports), with a fuel budget
//! so that a runaway guest fails instead of hanging.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wasmtime::{Caller, Config, Engine, Extern, Linker, Memory, Module, Store};

/// This crate's directory, at run time (cargo sets it for tests).
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn vectors_dir() -> PathBuf {
    crate_dir().join("../../core/tests/vectors")
}

/// Every golden vector: the broker frames and the compressed bodies,
/// by file name, sorted.
fn vectors() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [vectors_dir(), vectors_dir().join("broker")] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let wanted = [".bin", ".zlib", ".lz4", ".zst"]
                .iter()
                .any(|ext| name.ends_with(ext));
            if path.is_file() && wanted {
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    assert!(out.len() >= 30, "golden vectors missing: {}", out.len());
    out
}

/// Runs `cmd`, killing it after `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> std::process::ExitStatus {
    let mut child = cmd.spawn().expect("cannot start cargo");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The guest module: `$WASI_VECTORS_WASM`, else built now.
fn guest() -> PathBuf {
    if let Some(path) = std::env::var_os("WASI_VECTORS_WASM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("target"))
        // Its own directory: the one running this test may be locked.
        .join("wasi-vectors-guest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip1",
        "--bin",
        "wasi-vectors",
    ])
    .arg("--manifest-path")
    .arg(crate_dir().join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
    let status = run_bounded(cmd, Duration::from_secs(900));
    assert!(status.success(), "building the wasm32-wasip1 guest failed ({status}); is the rustup target wasm32-wasip1 installed?");
    target_dir.join("wasm32-wasip1/release/wasi-vectors.wasm")
}

/// What the guest sees and leaves.
struct Wasi {
    stdin: Vec<u8>,
    read: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit: Option<i32>,
}

const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;

fn memory(caller: &mut Caller<'_, Wasi>) -> Option<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

fn read_u32(mem: &[u8], at: usize) -> Option<u32> {
    let b = mem.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn write_u32(mem: &mut [u8], at: usize, v: u32) -> Option<()> {
    mem.get_mut(at..at.checked_add(4)?)?
        .copy_from_slice(&v.to_le_bytes());
    Some(())
}

/// The (pointer, length) pairs of an iovec array.
fn iovecs(mem: &[u8], iovs: u32, len: u32) -> Option<Vec<(usize, usize)>> {
    (0..len as usize)
        .map(|i| {
            let at = iovs as usize + i * 8;
            Some((read_u32(mem, at)? as usize, read_u32(mem, at + 4)? as usize))
        })
        .collect()
}

fn fd_write(mut caller: Caller<'_, Wasi>, fd: i32, iovs: i32, len: i32, nwritten: i32) -> i32 {
    let Some(mem) = memory(&mut caller) else {
        return ERRNO_FAULT;
    };
    let (data, state) = mem.data_and_store_mut(&mut caller);
    let sink = match fd {
        1 => &mut state.stdout,
        2 => &mut state.stderr,
        _ => return ERRNO_BADF,
    };
    let Some(list) = iovecs(data, iovs as u32, len as u32) else {
        return ERRNO_FAULT;
    };
    let mut total = 0u32;
    for (ptr, n) in list {
        let Some(bytes) = data.get(ptr..ptr.saturating_add(n)) else {
            return ERRNO_FAULT;
        };
        sink.extend_from_slice(bytes);
        total = total.saturating_add(n as u32);
    }
    match write_u32(data, nwritten as u32 as usize, total) {
        Some(()) => ERRNO_SUCCESS,
        None => ERRNO_FAULT,
    }
}

fn fd_read(mut caller: Caller<'_, Wasi>, fd: i32, iovs: i32, len: i32, nread: i32) -> i32 {
    if fd != 0 {
        return ERRNO_BADF;
    }
    let Some(mem) = memory(&mut caller) else {
        return ERRNO_FAULT;
    };
    let (data, state) = mem.data_and_store_mut(&mut caller);
    let Some(list) = iovecs(data, iovs as u32, len as u32) else {
        return ERRNO_FAULT;
    };
    let mut total = 0u32;
    for (ptr, n) in list {
        let rest = &state.stdin[state.read..];
        let n = n.min(rest.len());
        let Some(dst) = data.get_mut(ptr..ptr.saturating_add(n)) else {
            return ERRNO_FAULT;
        };
        dst.copy_from_slice(&rest[..n]);
        state.read += n;
        total = total.saturating_add(n as u32);
    }
    match write_u32(data, nread as u32 as usize, total) {
        Some(()) => ERRNO_SUCCESS,
        None => ERRNO_FAULT,
    }
}

fn environ_sizes_get(mut caller: Caller<'_, Wasi>, count: i32, size: i32) -> i32 {
    let Some(mem) = memory(&mut caller) else {
        return ERRNO_FAULT;
    };
    let data = mem.data_mut(&mut caller);
    match (
        write_u32(data, count as u32 as usize, 0),
        write_u32(data, size as u32 as usize, 0),
    ) {
        (Some(()), Some(())) => ERRNO_SUCCESS,
        _ => ERRNO_FAULT,
    }
}

/// Runs the guest on `input`: (exit status, standard output, standard error).
fn run_in_wasmtime(module: &Path, input: Vec<u8>) -> (i32, Vec<u8>, Vec<u8>) {
    let mut config = Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::from_file(&engine, module).unwrap();
    let mut linker: Linker<Wasi> = Linker::new(&engine);
    let wasi = "wasi_snapshot_preview1";
    linker.func_wrap(wasi, "fd_write", fd_write).unwrap();
    linker.func_wrap(wasi, "fd_read", fd_read).unwrap();
    linker
        .func_wrap(wasi, "environ_sizes_get", environ_sizes_get)
        .unwrap();
    linker
        .func_wrap(
            wasi,
            "environ_get",
            |_: Caller<'_, Wasi>, _: i32, _: i32| ERRNO_SUCCESS,
        )
        .unwrap();
    linker
        .func_wrap(
            wasi,
            "proc_exit",
            |mut caller: Caller<'_, Wasi>, code: i32| {
                caller.data_mut().exit = Some(code);
                Err::<(), _>(wasmtime::Error::msg("proc_exit"))
            },
        )
        .unwrap();
    let mut store = Store::new(
        &engine,
        Wasi {
            stdin: input,
            read: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            exit: None,
        },
    );
    // Far more than the ~10^8 instructions the vectors take; a guest in a
    // loop runs out instead of hanging the test.
    store.set_fuel(50_000_000_000).unwrap();
    let instance = linker
        .instantiate(&mut store, &module)
        .unwrap_or_else(|e| panic!("instantiating the guest: {e:?} (an import our WASI lacks?)"));
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap();
    let result = start.call(&mut store, ());
    let state = store.into_data();
    let status = match (result, state.exit) {
        (_, Some(code)) => code,
        (Ok(()), None) => 0,
        (Err(e), None) => panic!(
            "the guest trapped: {e:?}\nstderr: {}",
            String::from_utf8_lossy(&state.stderr)
        ),
    };
    (status, state.stdout, state.stderr)
}

#[test]
fn golden_vectors_give_byte_identical_results_natively_and_in_wasmtime() {
    let vectors = vectors();
    let input = wasi_vectors::pack(&vectors);
    let native = wasi_vectors::report(&input).expect("native report");
    // Sanity: the report covers every vector and re-encodes the frames.
    assert_eq!(native.matches("\n== ").count() + 1, vectors.len());
    assert!(native.contains("reencoded"));

    let module = guest();
    let started = Instant::now();
    let (status, stdout, stderr) = run_in_wasmtime(&module, input);
    eprintln!(
        "{} vectors, {} bytes of report; wasmtime run (compile included) {:.1?}",
        vectors.len(),
        native.len(),
        started.elapsed()
    );
    assert_eq!(
        status,
        0,
        "guest failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    let wasm = String::from_utf8(stdout).expect("the guest's report is UTF-8");
    if wasm != native {
        let line = native
            .lines()
            .zip(wasm.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(native.lines().count().min(wasm.lines().count()));
        panic!(
            "reports differ from line {}:\nnative: {:.300}\nwasm:   {:.300}",
            line + 1,
            native.lines().nth(line).unwrap_or("<end>"),
            wasm.lines().nth(line).unwrap_or("<end>")
        );
    }
}

#[test]
fn a_truncated_input_is_an_error_not_a_panic() {
    let input = wasi_vectors::pack(&[("x.bin".to_string(), vec![1, 2, 3])]);
    assert!(wasi_vectors::report(&input[..input.len() - 1]).is_err());
}
