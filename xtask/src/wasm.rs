//! Builds the WebAssembly client (`host-wasm`, crate `rmq-wasm`) and its
//! wasm-bindgen bindings into `js/dist/wasm`, checks its gzipped size
//! against the budget, and runs the npm package's tests (`js/test`) with
//! Node's test runner against real name servers.
//!
//! Tools are installed when missing, and said so: the `wasm32-unknown-unknown`
//! rustup target, and `wasm-bindgen-cli` at exactly the version `host-wasm`
//! pins (the CLI and the crate must match), into a cache directory outside
//! the repository; and `wasm-opt` from the npm package `binaryen` at a
//! pinned version, which shrinks the bound module before it is measured.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The wasm-bindgen version; must equal the `wasm-bindgen = "=…"` pin in
/// `host-wasm/Cargo.toml` (checked by [`build_wasm`]).
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// The size budget of the whole client: the `.wasm`, gzipped (`gzip -9`),
/// after wasm-bindgen and wasm-opt.
///
/// Where the bytes went (issue 8): 229 KiB gzipped (715 KB raw) at first,
/// 245 KiB (777 KB) once the admin, transaction and request-reply features
/// landed. A third of the code was `BTreeMap` instantiations (5-13 KB of
/// code each, ~40 of them): `rmq_core::collections` left one B-tree for
/// every integer-keyed map (`IdMap`/`IdSet`/`DeadlineSet`) and sorted `Vec`s
/// for the small ones (-32 KiB gzipped); one merge sort instead of the
/// standard sort per element type (-4 KiB); the `small-zlib` encoder for
/// sends instead of miniz_oxide's deflate (-7 KiB); wasm-opt `-Os` without
/// its inliner (inlining made the gzipped size worse) -4 KiB. Result:
/// ~192 KiB gzipped (514 KB raw). What is left, raw: protocol codecs and
/// headers ~60 KB, push consumer ~35 KB, engine ~25 KB, the remaining
/// `BTreeMap`s ~40 KB (one u64 index, one (u64, u64) set, the public route
/// and admin tables, the host's recorder map), zstd/inflate/LZ4 decoders
/// ~42 KB, dlmalloc 7 KB, SHA-1/MD5/base64 (ACL, allocation) ~9 KB.
pub const GZIP_BUDGET: u64 = 200 * 1024;

/// The binaryen release whose `wasm-opt` (npm package `binaryen`, a
/// JavaScript/WebAssembly build run by Node) optimizes the module.
pub const BINARYEN_VERSION: &str = "132.0.0";

/// wasm-opt's arguments. The features are rustc 1.95's defaults for
/// wasm32-unknown-unknown (the module's `target_features` section says the
/// same). `-Os` with the inliner off: wasm-opt's inlining shrinks the raw
/// module but grows it gzipped (measured: -Oz 646 KB raw / 261 KB gz
/// against 715 / 234 before); without it, -Os and `--converge` gave the
/// smallest gzipped module.
const WASM_OPT_ARGS: &[&str] = &[
    "-Os",
    "--converge",
    "--flexible-inline-max-function-size",
    "0",
    "--one-caller-inline-max-function-size",
    "0",
    "--strip-debug",
    "--strip-producers",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-mutable-globals",
    "--enable-multivalue",
    "--enable-reference-types",
];

const TARGET: &str = "wasm32-unknown-unknown";

/// The repository root, found at run time (see `workspace_root`).
fn repo_root() -> PathBuf {
    crate::workspace_root()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        }
        None => root.join("target"),
    }
}

/// Where the pinned wasm-bindgen-cli is installed: `$RMQ_TOOLS_DIR`, else
/// `$CARGO_TARGET_DIR/tools`, else `/var/tmp/rmq-tools`, each with
/// `wasm-bindgen-<version>/bin/wasm-bindgen` below.
pub(crate) fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RMQ_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(target) => PathBuf::from(target).join("tools"),
        None => PathBuf::from("/var/tmp/rmq-tools"),
    }
}

pub(crate) fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

/// Runs `cmd`, failing with `what` and its exit status.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The version a `wasm-bindgen` binary reports (`wasm-bindgen 0.2.130`).
fn bindgen_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_string)
}

/// `wasm-bindgen` at [`WASM_BINDGEN_VERSION`]: `$WASM_BINDGEN` or the
/// cached install if either has that version, else one on `PATH` that
/// has it, else installed into the cache (`cargo install --locked`; if the
/// registry cannot serve a locked dependency, again without `--locked`).
fn wasm_bindgen(say: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let root = tools_dir().join(format!("wasm-bindgen-{WASM_BINDGEN_VERSION}"));
    let cached = root.join("bin").join("wasm-bindgen");
    let candidates = std::env::var_os("WASM_BINDGEN")
        .map(PathBuf::from)
        .into_iter()
        .chain([cached.clone(), PathBuf::from("wasm-bindgen")]);
    for bin in candidates {
        if bindgen_version(&bin).as_deref() == Some(WASM_BINDGEN_VERSION) {
            return Ok(bin);
        }
    }
    say(&format!(
        "installing wasm-bindgen-cli {WASM_BINDGEN_VERSION} into {} (a few minutes, once)",
        root.display()
    ));
    let started = Instant::now();
    let install = |locked: bool| {
        let mut cmd = Command::new(cargo());
        cmd.args([
            "install",
            "wasm-bindgen-cli",
            "--version",
            WASM_BINDGEN_VERSION,
        ])
        .arg("--root")
        .arg(&root)
        // Its own target dir: the shared one holds wasm artifacts.
        .env("CARGO_TARGET_DIR", tools_dir().join("target"));
        if locked {
            cmd.arg("--locked");
        }
        run(&mut cmd, "cargo install wasm-bindgen-cli")
    };
    if let Err(e) = install(true) {
        say(&format!(
            "{e}; retrying without --locked (the registry may lack a locked dependency)"
        ));
        install(false)?;
    }
    say(&format!(
        "installed wasm-bindgen-cli {WASM_BINDGEN_VERSION} in {:.0?}",
        started.elapsed()
    ));
    match bindgen_version(&cached) {
        Some(v) if v == WASM_BINDGEN_VERSION => Ok(cached),
        other => Err(format!(
            "{} reports version {other:?}, expected {WASM_BINDGEN_VERSION}",
            cached.display()
        )),
    }
}

/// The `wasm-opt` of binaryen [`BINARYEN_VERSION`]: the cached npm install
/// under the tools directory when it reports that version, else installed
/// there with `npm install binaryen@<version>` (needs npm, like the tests'
/// Node; a few seconds, once).
fn wasm_opt(say: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let root = tools_dir().join(format!("binaryen-{BINARYEN_VERSION}"));
    let bin = root.join("node_modules").join(".bin").join("wasm-opt");
    let major = BINARYEN_VERSION
        .split('.')
        .next()
        .unwrap_or(BINARYEN_VERSION);
    let works = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .is_some_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains(&format!("version {major}"))
            })
    };
    if works(&bin) {
        return Ok(bin);
    }
    say(&format!(
        "installing wasm-opt (npm binaryen@{BINARYEN_VERSION}) into {}",
        root.display()
    ));
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let npm = std::env::var_os("NPM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("npm"));
    run(
        Command::new(npm)
            .current_dir(&root)
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&root)
            .arg(format!("binaryen@{BINARYEN_VERSION}")),
        "npm install binaryen",
    )?;
    if works(&bin) {
        Ok(bin)
    } else {
        Err(format!(
            "{} does not report binaryen version {major}",
            bin.display()
        ))
    }
}

/// Adds the wasm32 rustup target when it is missing.
fn ensure_target(say: &mut dyn FnMut(&str)) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    let list = String::from_utf8_lossy(&installed.stdout);
    if list.lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    say(&format!("adding the rustup target {TARGET}"));
    run(
        Command::new("rustup").args(["target", "add", TARGET]),
        "rustup target add",
    )
}

/// Checks that `host-wasm/Cargo.toml` pins the wasm-bindgen crate at
/// [`WASM_BINDGEN_VERSION`] (the CLI refuses a module from another version).
fn check_pin(root: &Path) -> Result<(), String> {
    let manifest = root.join("host-wasm").join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let pin = format!("wasm-bindgen = \"={WASM_BINDGEN_VERSION}\"");
    if text.lines().any(|l| l.trim() == pin) {
        Ok(())
    } else {
        Err(format!(
            "{} must pin `{pin}` (xtask/src/wasm.rs installs that CLI version)",
            manifest.display()
        ))
    }
}

/// `gzip -9` size of `file`.
fn gzipped_len(file: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut child = Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("gzip: no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().map_err(|e| format!("gzip: {e}"))?;
    writer
        .join()
        .map_err(|_| "gzip: writer panicked".to_string())?
        .map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip failed ({})", out.status));
    }
    Ok(out.stdout.len() as u64)
}

/// Builds `host-wasm` (release, wasm32-unknown-unknown), runs wasm-bindgen
/// (`--target web`) into `js/dist/wasm`, prints the size and, with
/// `enforce_budget`, fails when the gzipped `.wasm` exceeds [`GZIP_BUDGET`]
/// (the bindings are written either way). Returns the path of the bound
/// `.wasm`. Idempotent.
pub fn build_wasm(say: &mut dyn FnMut(&str), enforce_budget: bool) -> Result<PathBuf, String> {
    let root = repo_root();
    check_pin(&root)?;
    ensure_target(say)?;
    let bindgen = wasm_bindgen(say)?;
    let wasm_opt = wasm_opt(say)?;

    say("building host-wasm (release, wasm32-unknown-unknown)");
    let started = Instant::now();
    run(
        Command::new(cargo())
            .current_dir(&root)
            .arg("build")
            .arg("--manifest-path")
            .arg(root.join("host-wasm").join("Cargo.toml"))
            .args(["--target", TARGET, "--release"]),
        "cargo build (host-wasm)",
    )?;
    say(&format!("built host-wasm in {:.1?}", started.elapsed()));

    let module = target_dir(&root)
        .join(TARGET)
        .join("release")
        .join("rmq_wasm.wasm");
    let out_dir = root.join("js").join("dist").join("wasm");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    run(
        Command::new(&bindgen)
            // ES module glue that Node, Deno and browsers all load; js/src/wasm.js
            // compiles the .wasm once and instantiates it with `initSync`.
            .args(["--target", "web"])
            .args(["--remove-name-section", "--remove-producers-section"])
            .args(["--out-name", "rmq_wasm"])
            .arg("--out-dir")
            .arg(&out_dir)
            .arg(&module),
        "wasm-bindgen",
    )?;
    // The web glue is ESM like the package: a `package.json` left by an
    // older (`--target nodejs`, CommonJS) build would mislabel it.
    let stale = out_dir.join("package.json");
    if stale.exists() {
        std::fs::remove_file(&stale)
            .map_err(|e| format!("cannot remove {}: {e}", stale.display()))?;
    }

    let wasm = out_dir.join("rmq_wasm_bg.wasm");
    let bound = std::fs::metadata(&wasm)
        .map_err(|e| format!("cannot stat {}: {e}", wasm.display()))?
        .len();
    let started = Instant::now();
    run(
        Command::new(&wasm_opt)
            .args(WASM_OPT_ARGS)
            .arg(&wasm)
            .arg("-o")
            .arg(&wasm),
        "wasm-opt",
    )?;
    say(&format!(
        "wasm-opt {}: {bound} -> {} bytes in {:.1?}",
        WASM_OPT_ARGS.join(" "),
        std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0),
        started.elapsed()
    ));
    let raw = std::fs::metadata(&wasm)
        .map_err(|e| format!("cannot stat {}: {e}", wasm.display()))?
        .len();
    let gz = gzipped_len(&wasm)?;
    say(&format!(
        "{}: {raw} bytes, {gz} bytes gzipped ({:.1} KiB of the {} KiB budget)",
        wasm.display(),
        gz as f64 / 1024.0,
        GZIP_BUDGET / 1024
    ));
    if gz > GZIP_BUDGET && !enforce_budget {
        say(&format!(
            "WARNING: the client is {gz} bytes gzipped, OVER the {GZIP_BUDGET}-byte budget \
             (reported, not yet enforced by `cargo xtask test`: issue 8 is open; \
             `cargo xtask wasm` enforces it)"
        ));
    } else if gz > GZIP_BUDGET {
        return Err(format!(
            "the client is {gz} bytes gzipped, over the {GZIP_BUDGET}-byte budget \
             (the bindings in {} are usable nonetheless)",
            out_dir.display()
        ));
    }
    Ok(wasm)
}

/// Runs `node --test test/` in `js/` with the name servers the tests read
/// (`RMQ_TEST_NAMESRV_V5`, `RMQ_TEST_NAMESRV_V4`) and the Go peer of the
/// interop tests (`RMQ_GO_PEER`). Needs Node >= 18 and a [`build_wasm`] first.
pub fn run_node_tests(
    say: &mut dyn FnMut(&str),
    namesrv_v5: &str,
    namesrv_v4: &str,
    go_peer: &Path,
) -> Result<(), String> {
    let js = repo_root().join("js");
    let node = std::env::var_os("NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"));
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .map_err(|e| format!("Node.js (>= 18) is missing: {e}; install it or set NODE"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 18 {
        return Err(format!("Node.js >= 18 is needed, found {version:?}"));
    }
    if !js.join("dist").join("wasm").join("rmq_wasm.js").exists() {
        return Err("js/dist/wasm is missing: build_wasm first".into());
    }
    say(&format!(
        "node {version}: node --test test/ (name servers {namesrv_v5}, {namesrv_v4})"
    ));
    let started = Instant::now();
    run(
        Command::new(&node)
            .current_dir(&js)
            .args(["--test", "test/"])
            .env("RMQ_TEST_NAMESRV_V5", namesrv_v5)
            .env("RMQ_TEST_NAMESRV_V4", namesrv_v4)
            .env("RMQ_GO_PEER", go_peer),
        "node --test",
    )?;
    say(&format!("node tests passed in {:.1?}", started.elapsed()));
    Ok(())
}
