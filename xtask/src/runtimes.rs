//! The npm package beyond Node: under Deno (TCP through `Deno.connect`,
//! `js/test-deno`), in a browser (Debian's chromium driven by
//! playwright-core, through `rmq-bridge`, `js/test-browser`), and in Node
//! through `rmq-bridge` with the `ws` package's WebSocket as the
//! `webSocket` option (`js/test-ws`), against the real name servers
//! `cargo xtask test` started. Runs after
//! [`crate::wasm::run_node_tests`] (the same `js/dist/wasm` build). Then
//! the package as a package ([`run_package_tests`]): its typings under
//! `tsc --noEmit --strict` (`js/test-types`), and `npm pack` installed
//! offline into a fresh directory and used by name (`js/test-pack`).
//!
//! What they need is installed when missing, and said so: each test
//! directory's npm packages (`npm ci` from its committed package-lock.json:
//! the `deno` binary, `playwright-core`, `ws`), Debian's `chromium`
//! (`apt-get install -y chromium`), the `rmq-bridge` binary (`cargo build`).
//! Every step has a deadline; a test run past it is killed with every
//! process it started (its process group). Nothing is skipped: whatever
//! cannot be installed or started fails the run, with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Deadline of one `npm ci`.
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Deadline of installing chromium with apt-get (update included).
const APT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Deadline of building rmq-bridge.
const BRIDGE_BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Deadline of each test run (Deno's, the browser's, Node's through the bridge).
const TEST_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long a timed-out run gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The chromium the browser test drives (`$CHROMIUM` overrides).
fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Runs `cmd` in its own process group, killing the whole group when it
/// outlives `timeout`. Fails with `what`, the exit status or the deadline.
fn run_bounded(cmd: &mut Command, timeout: Duration, what: &str) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{what} failed ({status})")),
            Ok(None) if Instant::now() >= deadline => {
                // The whole group: the test's own children (the bridge) too.
                // SIGTERM first: playwright closes the browser it launched
                // (in a group of its own) on SIGTERM, not on SIGKILL.
                let group = format!("-{}", child.id());
                let signal = |sig: &str| {
                    let _ = Command::new("kill").args([sig, "--", &group]).status();
                };
                signal("-TERM");
                let grace = Instant::now() + KILL_GRACE;
                while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                signal("-KILL");
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} timed out after {timeout:?} (killed)"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// `npm ci` in `dir` unless its `node_modules` already matches the lock
/// file (npm's hidden lockfile there is newer than `package-lock.json`).
fn npm_ci(say: &mut dyn FnMut(&str), dir: &Path) -> Result<(), String> {
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules").join(".package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(lock_time), Some(installed_time)) = (modified(&lock), modified(&installed)) {
        if installed_time >= lock_time {
            return Ok(());
        }
    }
    say(&format!(
        "npm ci in {} (its test-only dependencies, from package-lock.json)",
        dir.display()
    ));
    run_bounded(
        Command::new("npm")
            .current_dir(dir)
            .args(["ci", "--no-audit", "--no-fund"]),
        NPM_CI_TIMEOUT,
        &format!("npm ci in {}", dir.display()),
    )
}

/// Debian's chromium at [`chromium_path`], installed with apt-get when
/// missing (`apt-get update` first only when the install fails without it).
fn ensure_chromium(say: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let path = chromium_path();
    if path.exists() {
        return Ok(path);
    }
    say(&format!(
        "{} is missing: installing Debian's chromium (apt-get install -y chromium) for the browser test",
        path.display()
    ));
    let install = || {
        run_bounded(
            Command::new("apt-get")
                .args(["install", "-y", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            APT_TIMEOUT,
            "apt-get install chromium",
        )
    };
    if let Err(e) = install() {
        say(&format!("{e}; running apt-get update and trying again"));
        run_bounded(
            Command::new("apt-get")
                .arg("update")
                .env("DEBIAN_FRONTEND", "noninteractive"),
            APT_TIMEOUT,
            "apt-get update",
        )?;
        install()?;
    }
    if path.exists() {
        say(&format!("installed chromium at {}", path.display()));
        Ok(path)
    } else {
        Err(format!(
            "apt-get installed chromium but {} is still missing (set CHROMIUM)",
            path.display()
        ))
    }
}

/// Builds `rmq-bridge` (debug; a no-op when up to date) and returns its path.
fn build_bridge(say: &mut dyn FnMut(&str), root: &Path) -> Result<PathBuf, String> {
    say("building rmq-bridge (cargo build -p rmq --bin rmq-bridge) for the bridge tests");
    run_bounded(
        Command::new(crate::wasm::cargo()).current_dir(root).args([
            "build",
            "-q",
            "-p",
            "rmq",
            "--bin",
            "rmq-bridge",
        ]),
        BRIDGE_BUILD_TIMEOUT,
        "cargo build rmq-bridge",
    )?;
    let bin = crate::wasm::target_dir(root)
        .join("debug")
        .join("rmq-bridge");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("{} is missing after the build", bin.display()))
    }
}

/// Runs a Node test that goes through rmq-bridge: `test` is (what it is
/// called, its directory, its file). Installs the directory's npm packages
/// and builds the bridge first, then runs `node --test <file>` there
/// (bounded by [`TEST_TIMEOUT`]) with the name servers `namesrvs` (5.x,
/// 4.x), the bridge binary and the target directory in its environment,
/// plus `env`.
fn run_node_bridge_test(
    say: &mut dyn FnMut(&str),
    (what, dir, file): (&str, &Path, &str),
    (namesrv_v5, namesrv_v4): (&str, &str),
    env: &[(&str, &std::ffi::OsStr)],
) -> Result<(), String> {
    npm_ci(say, dir)?;
    let root = crate::workspace_root();
    let bridge = build_bridge(say, &root)?;
    say(&format!(
        "{what}: node --test {} through {}; name servers {namesrv_v5}, {namesrv_v4}",
        dir.join(file).display(),
        bridge.display()
    ));
    let started = Instant::now();
    run_bounded(
        Command::new(std::env::var_os("NODE").unwrap_or_else(|| "node".into()))
            .current_dir(dir)
            .args(["--test", file])
            .env("RMQ_TEST_NAMESRV_V5", namesrv_v5)
            .env("RMQ_TEST_NAMESRV_V4", namesrv_v4)
            .env("RMQ_BRIDGE", &bridge)
            .env("CARGO_TARGET_DIR", crate::wasm::target_dir(&root))
            .envs(env.iter().copied()),
        TEST_TIMEOUT,
        what,
    )?;
    say(&format!("{what} passed in {:.1?}", started.elapsed()));
    Ok(())
}

/// Runs the Deno test (`js/test-deno`), the browser test
/// (`js/test-browser`) and Node through the bridge with `ws`
/// (`js/test-ws`) against the name servers `namesrv_v5` and `namesrv_v4`,
/// installing what they need first. Each runs even when an earlier one
/// fails; the error names every failure.
pub fn run_runtime_tests(
    say: &mut dyn FnMut(&str),
    namesrv_v5: &str,
    namesrv_v4: &str,
) -> Result<(), String> {
    let root = crate::workspace_root();
    let js = root.join("js");
    let target = crate::wasm::target_dir(&root);
    let mut failures = Vec::new();

    // Deno: the npm `deno` binary of js/test-deno.
    let deno_dir = js.join("test-deno");
    let deno = npm_ci(say, &deno_dir).and_then(|()| {
        let bin = deno_dir.join("node_modules").join(".bin").join("deno");
        say(&format!(
            "deno test js/test-deno (Deno.connect; name servers {namesrv_v5}, {namesrv_v4})"
        ));
        let started = Instant::now();
        run_bounded(
            Command::new(&bin)
                .current_dir(&deno_dir)
                .args(["test", "--allow-net", "--allow-read", "--allow-env"])
                // --allow-run, --allow-write: the README's Deno block runs
                // as a `deno run` child from a temporary file.
                .args([
                    "--allow-sys",
                    "--allow-run",
                    "--allow-write",
                    "deno.test.js",
                ])
                .env("RMQ_TEST_NAMESRV_V5", namesrv_v5)
                .env("RMQ_TEST_NAMESRV_V4", namesrv_v4)
                .env("DENO_NO_UPDATE_CHECK", "1")
                .env("DENO_DIR", crate::wasm::tools_dir().join("deno-cache")),
            TEST_TIMEOUT,
            "deno test",
        )?;
        say(&format!("deno tests passed in {:.1?}", started.elapsed()));
        Ok(())
    });
    if let Err(e) = deno {
        failures.push(format!("Deno: {e}"));
    }

    // The browser: chromium + playwright-core, through rmq-bridge.
    let browser_dir = js.join("test-browser");
    let browser = ensure_chromium(say).and_then(|chromium| {
        say(&format!(
            "the browser test drives {}; screenshots in {}",
            chromium.display(),
            target.join("rmq-artifacts").display()
        ));
        let test = ("the browser test", browser_dir.as_path(), "browser.test.js");
        let chromium = [("CHROMIUM", chromium.as_os_str())];
        run_node_bridge_test(say, test, (namesrv_v5, namesrv_v4), &chromium)
    });
    if let Err(e) = browser {
        failures.push(format!("browser: {e}"));
    }

    // Node without a global WebSocket: the ws package as `webSocket`,
    // through rmq-bridge (js/test-ws starts and stops its own bridge).
    let ws_dir = js.join("test-ws");
    let test = (
        "the Node bridge test (ws)",
        ws_dir.as_path(),
        "bridge.test.js",
    );
    let ws = run_node_bridge_test(say, test, (namesrv_v5, namesrv_v4), &[]);
    if let Err(e) = ws {
        failures.push(format!("Node bridge (ws): {e}"));
    }

    // The package as users get it: typings, npm pack, offline install.
    if let Err(e) = run_package_tests(say, &js, namesrv_v5) {
        failures.push(format!("package: {e}"));
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// The npm package as a package, after the Deno test (whose `deno` binary
/// the pack test also runs): `tsc --noEmit --strict` over `js/test-types`
/// with each of its configs (Node: `@types/node`; browsers: the DOM lib),
/// TypeScript pinned by its package-lock.json; then `node --test` of
/// `js/test-pack` (`npm pack`, `npm install --offline` of the tarball into
/// a fresh directory, a program importing `rmq` by name sending and
/// consuming one message against `namesrv_v5` under Node and Deno, and
/// the typings type-checked through the installed package's `exports`;
/// it prints the tarball's size and files). Both run even when the first
/// fails; the error names every failure.
pub fn run_package_tests(
    say: &mut dyn FnMut(&str),
    js: &Path,
    namesrv_v5: &str,
) -> Result<(), String> {
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    let mut failures = Vec::new();

    let types_dir = js.join("test-types");
    let types = npm_ci(say, &types_dir).and_then(|()| {
        let tsc = types_dir
            .join("node_modules")
            .join("typescript")
            .join("bin")
            .join("tsc");
        for config in ["tsconfig.node.json", "tsconfig.dom.json"] {
            say(&format!("tsc --noEmit --strict -p js/test-types/{config}"));
            let started = Instant::now();
            run_bounded(
                Command::new(&node)
                    .current_dir(&types_dir)
                    .arg(&tsc)
                    .args(["-p", config, "--noEmit", "--strict"]),
                TEST_TIMEOUT,
                &format!("tsc -p js/test-types/{config}"),
            )?;
            say(&format!(
                "typings check ({config}) passed in {:.1?}",
                started.elapsed()
            ));
        }
        Ok(())
    });
    if let Err(e) = types {
        failures.push(format!("types: {e}"));
    }

    say(&format!(
        "node --test js/test-pack (npm pack; npm install --offline into a fresh directory; \
         import 'rmq' under Node and Deno; name server {namesrv_v5})"
    ));
    let started = Instant::now();
    let pack = run_bounded(
        Command::new(&node)
            .current_dir(js.join("test-pack"))
            .args(["--test", "pack.test.js"])
            .env("RMQ_TEST_NAMESRV_V5", namesrv_v5)
            .env(
                "RMQ_DENO",
                js.join("test-deno")
                    .join("node_modules")
                    .join(".bin")
                    .join("deno"),
            ),
        TEST_TIMEOUT,
        "the pack test",
    );
    match pack {
        Ok(()) => say(&format!("pack test passed in {:.1?}", started.elapsed())),
        Err(e) => failures.push(format!("pack: {e}")),
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_bounded_kills_the_whole_process_group_at_the_deadline() {
        let dir = std::env::temp_dir().join(format!("rmq-xtask-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("grandchild-survived");
        let _ = std::fs::remove_file(&marker);
        let started = Instant::now();
        // A grandchild that would write the marker after 2 s.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let result = run_bounded(
            Command::new("sh").args(["-c", &script]),
            Duration::from_millis(300),
            "sleeper",
        );
        let err = result.unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "a grandchild outlived the deadline");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn run_bounded_reports_a_failing_exit_status() {
        let err = run_bounded(
            Command::new("sh").args(["-c", "exit 3"]),
            Duration::from_secs(10),
            "three",
        )
        .unwrap_err();
        assert!(err.starts_with("three failed"), "{err}");
    }
}
