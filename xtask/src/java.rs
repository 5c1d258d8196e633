//! Builds `rmq-java-peer` (tests/interop/java), the Apache RocketMQ Java client
//! (`org.apache.rocketmq:rocketmq-client` 5.5.0 from Maven Central) as interop
//! peer and benchmark baseline. Maven's output goes to a cache directory
//! outside the repository ([`peer_dir`]); next to it a launcher script
//! `rmq-java-peer` runs `java … rmq.peer.JavaPeer "$@"`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use crate::{ensure_tool, workspace_root};

/// The peer's Maven module, relative to the workspace.
const MODULE: &str = "tests/interop/java";
const MAIN_CLASS: &str = "rmq.peer.JavaPeer";
/// `<finalName>` in the module's pom.xml.
const JAR_NAME: &str = "rmq-java-peer.jar";

/// A built Java peer: the `java` binary, the JVM options and the classpath.
pub struct JavaPeer {
    java: PathBuf,
    jvm_args: Vec<String>,
    classpath: String,
    launcher: PathBuf,
}

impl JavaPeer {
    /// A `java … rmq.peer.JavaPeer` command, ready for subcommand args.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.java);
        cmd.args(&self.jvm_args)
            .arg("-cp")
            .arg(&self.classpath)
            .arg(MAIN_CLASS);
        cmd
    }

    /// Path of a small launcher script (`<dir>/rmq-java-peer`,
    /// `exec java … "$@"`) for tests.
    pub fn launcher(&self) -> &Path {
        &self.launcher
    }
}

/// Where the Java peer is built: `$RMQ_JAVA_PEER_DIR`, else
/// `$CARGO_TARGET_DIR/java-peer`, else `/var/tmp/rmq-java-peer`.
pub fn peer_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RMQ_JAVA_PEER_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(target) => PathBuf::from(target).join("java-peer"),
        None => PathBuf::from("/var/tmp/rmq-java-peer"),
    }
}

/// Newest modification time of `path` (a file, or a directory walked
/// recursively).
fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

/// JVM options: no heap limit (the benches measure the client as shipped),
/// only a modest initial heap. rocketmq-client 5.5.0 logs through a shaded
/// logback configured by `rmq.client.logback.xml`, which reads
/// `rocketmq.log.root` (log directory, default ~/logs/rocketmqlogs) and
/// `rocketmq.log.level`. The peer sets the level from its `--log-level` flag,
/// enables the client's console appender and points `System.out` at stderr
/// before the client loads (see JavaPeer.java), so the library's log lines
/// reach stderr and stdout carries only the peer's JSON lines.
fn jvm_args(dir: &Path) -> Vec<String> {
    vec![
        "-Xms64m".into(),
        format!("-Drocketmq.log.root={}", dir.join("logs").display()),
    ]
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn write_launcher(peer: &JavaPeer) -> Result<(), String> {
    let mut line = String::from("exec");
    line.push(' ');
    line.push_str(&shell_quote(&peer.java.to_string_lossy()));
    for arg in &peer.jvm_args {
        line.push(' ');
        line.push_str(&shell_quote(arg));
    }
    line.push_str(" -cp ");
    line.push_str(&shell_quote(&peer.classpath));
    line.push(' ');
    line.push_str(MAIN_CLASS);
    line.push_str(" \"$@\"\n");
    let text = format!(
        "#!/bin/sh\n# Written by `cargo xtask` (xtask/src/java.rs): the Java RocketMQ peer.\n{line}"
    );
    let unchanged = std::fs::read_to_string(&peer.launcher).is_ok_and(|old| old == text);
    if !unchanged {
        std::fs::write(&peer.launcher, text)
            .map_err(|e| format!("cannot write {}: {e}", peer.launcher.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&peer.launcher, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot chmod {}: {e}", peer.launcher.display()))?;
    }
    Ok(())
}

/// Runs `mvn -B -q [-o] package` for the module, with Maven's build directory
/// redirected to `out_dir`: offline first (everything already in ~/.m2), then
/// with Maven Central.
fn mvn_package(module: &Path, out_dir: &Path, say: &mut dyn FnMut(&str)) -> Result<(), String> {
    let pom = module.join("pom.xml");
    for offline in [true, false] {
        say(&format!(
            "mvn -B -q -f {MODULE}/pom.xml package -Drmq.peer.build.dir={}{}",
            out_dir.display(),
            if offline {
                " (offline, from ~/.m2)"
            } else {
                " (downloading from Maven Central)"
            }
        ));
        let mut cmd = Command::new("mvn");
        cmd.args(["-B", "-q"]);
        if offline {
            cmd.arg("-o");
        }
        cmd.arg("-f")
            .arg(&pom)
            .arg(format!("-Drmq.peer.build.dir={}", out_dir.display()))
            .arg("package");
        let out = cmd.output().map_err(|e| format!("cannot run mvn: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        if !offline {
            return Err(format!(
                "mvn package in {} failed ({}):\n{}{}",
                module.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

/// Builds tests/interop/java with `mvn -B -q package` when its sources
/// (pom.xml, src/) are newer than the built jar/classpath, else says it is up
/// to date; writes the launcher script. Idempotent; progress lines through
/// `say`.
///
/// # Errors
/// When Java or Maven is missing, Maven fails, or a file cannot be written.
pub fn build_java_peer(say: &mut dyn FnMut(&str)) -> Result<JavaPeer, String> {
    ensure_tool("java", &["-version"], "openjdk-17-jdk-headless")?;
    let module = workspace_root().join(MODULE);
    let out_dir = peer_dir();
    let jar = out_dir.join(JAR_NAME);
    let classpath_file = out_dir.join("classpath.txt");

    let built = [&jar, &classpath_file]
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect::<Option<Vec<_>>>()
        .and_then(|times| times.into_iter().min());
    let sources = [module.join("pom.xml"), module.join("src")]
        .iter()
        .filter_map(|p| newest_mtime(p))
        .max();
    let fresh = match (built, sources) {
        (Some(b), Some(src)) => b >= src,
        _ => false,
    };
    if fresh {
        say(&format!("Java peer up to date: {}", jar.display()));
    } else {
        ensure_tool("mvn", &["-v"], "maven")?;
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
        let start = Instant::now();
        mvn_package(&module, &out_dir, say)?;
        say(&format!(
            "Java peer built in {:.1} s: {}",
            start.elapsed().as_secs_f64(),
            jar.display()
        ));
    }

    let deps = std::fs::read_to_string(&classpath_file)
        .map_err(|e| format!("cannot read {}: {e}", classpath_file.display()))?;
    let deps = deps.trim();
    let classpath = if deps.is_empty() {
        jar.display().to_string()
    } else {
        format!("{}:{deps}", jar.display())
    };
    let peer = JavaPeer {
        java: rmq_tests::java_binary(),
        jvm_args: jvm_args(&out_dir),
        classpath,
        launcher: out_dir.join("rmq-java-peer"),
    };
    write_launcher(&peer)?;
    say(&format!("Java peer launcher: {}", peer.launcher.display()));
    Ok(peer)
}
