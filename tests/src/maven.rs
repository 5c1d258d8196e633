//! Resolving the namesrv/broker classpaths from Maven Central.
//!
//! One pom per (version, role) lives in `tests/maven/`. `mvn` runs the pinned
//! `maven-dependency-plugin:3.6.1:build-classpath` goal on it and writes the
//! classpath into the cache directory (never inside the repository). A cached
//! classpath is reused while every jar it names still exists; otherwise Maven
//! runs again, offline (`-o`) first and online if that fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{BrokerVersion, HarnessError, Role};

const DEPENDENCY_PLUGIN: &str =
    "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:build-classpath";

/// The directory holding the poms (`tests/maven/`).
pub fn pom_dir() -> PathBuf {
    workspace_root().join("tests").join("maven")
}

/// The checkout this process runs from, found at run time: the nearest
/// ancestor of the running package's directory (`CARGO_MANIFEST_DIR`, which
/// cargo sets for `cargo run` and `cargo test`) or of the current directory
/// that holds `tests/maven`. A compile-time path would be stale when a
/// persistent `CARGO_TARGET_DIR` serves several clones, because cargo does
/// not rebuild a crate only because its checkout moved.
pub fn workspace_root() -> PathBuf {
    let starts = [
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_dir().ok(),
    ];
    for start in starts.into_iter().flatten() {
        if let Some(root) = start
            .ancestors()
            .find(|dir| dir.join("tests/maven").is_dir())
        {
            return root.to_path_buf();
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The pom resolving `role` of `version`.
pub fn pom_path(version: BrokerVersion, role: Role) -> PathBuf {
    pom_dir().join(format!(
        "rocketmq-{}-{}.pom.xml",
        role.name(),
        version.maven_version()
    ))
}

/// The harness cache directory: `$RMQ_CACHE_DIR`, else `$XDG_CACHE_HOME/rmq`,
/// else `~/.cache/rmq`, else `/var/tmp/rmq-cache`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RMQ_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("rmq");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".cache").join("rmq");
    }
    PathBuf::from("/var/tmp/rmq-cache")
}

/// Where the cached classpath of `role`/`version` is kept. The name carries a
/// hash of the pom, so editing a pom invalidates its cache entry.
pub fn classpath_file(version: BrokerVersion, role: Role) -> Result<PathBuf, HarnessError> {
    let pom = pom_path(version, role);
    let text =
        fs::read(&pom).map_err(|e| HarnessError::io(format!("read {}", pom.display()), e))?;
    Ok(cache_dir().join("classpath").join(format!(
        "{}-{}-{:016x}.txt",
        role.name(),
        version.maven_version(),
        fnv1a(&text)
    )))
}

/// Returns the classpath (`:`-separated jar paths) of `role`/`version`,
/// resolving it with Maven when it is not cached. `log` receives one line per
/// action taken (nothing when the cache is valid).
pub fn classpath(
    version: BrokerVersion,
    role: Role,
    log: &mut dyn FnMut(&str),
) -> Result<String, HarnessError> {
    let artifact = format!("rocketmq-{} {}", role.name(), version.maven_version());
    resolve_classpath(
        &pom_path(version, role),
        &classpath_file(version, role)?,
        &artifact,
        log,
    )
}

/// Returns the runtime classpath of the dependencies named by the pom at
/// `pom` (any pom of the repository, e.g. the bench's rocketmq-proxy pom),
/// cached under [`cache_dir`] as `<name>-<pom hash>.txt`.
pub fn classpath_of_pom(
    pom: &Path,
    name: &str,
    log: &mut dyn FnMut(&str),
) -> Result<String, HarnessError> {
    let text = fs::read(pom).map_err(|e| HarnessError::io(format!("read {}", pom.display()), e))?;
    let file = cache_dir()
        .join("classpath")
        .join(format!("{name}-{:016x}.txt", fnv1a(&text)));
    resolve_classpath(pom, &file, name, log)
}

/// The cached classpath in `file`, or Maven's answer for `pom` written there.
fn resolve_classpath(
    pom: &Path,
    file: &Path,
    artifact: &str,
    log: &mut dyn FnMut(&str),
) -> Result<String, HarnessError> {
    if let Some(cp) = read_valid_classpath(file) {
        return Ok(cp);
    }
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("cp"),
        std::process::id()
    ));
    let mut last_output = String::new();
    for offline in [true, false] {
        log(&format!(
            "resolving {artifact} with Maven{} into {}",
            if offline {
                " (offline, from ~/.m2)"
            } else {
                " (downloading from Maven Central)"
            },
            file.display()
        ));
        let mut cmd = Command::new("mvn");
        cmd.arg("-q").arg("-B");
        if offline {
            cmd.arg("-o");
        }
        cmd.arg("-f")
            .arg(pom)
            .arg(DEPENDENCY_PLUGIN)
            .arg(format!("-Dmdep.outputFile={}", tmp.display()))
            .arg("-Dmdep.pathSeparator=:")
            .arg("-DincludeScope=runtime");
        let out = cmd.output().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                HarnessError::MissingTool {
                    tool: "mvn".into(),
                    hint: "install Maven (Debian: `apt-get install maven`)".into(),
                }
            } else {
                HarnessError::io("run mvn", e)
            }
        })?;
        if out.status.success() {
            fs::rename(&tmp, file).map_err(|e| {
                HarnessError::io(format!("rename {} to {}", tmp.display(), file.display()), e)
            })?;
            if let Some(cp) = read_valid_classpath(file) {
                return Ok(cp);
            }
            last_output = format!("{} names a jar that does not exist", file.display());
        } else {
            let _ = fs::remove_file(&tmp);
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            last_output = tail_lines(&text, 15);
        }
    }
    Err(HarnessError::Maven {
        artifact: artifact.to_string(),
        output: last_output,
    })
}

/// Resolves (or checks the cache of) every pinned classpath.
pub fn resolve_all(log: &mut dyn FnMut(&str)) -> Result<(), HarnessError> {
    for version in BrokerVersion::ALL {
        for role in [Role::Namesrv, Role::Broker] {
            classpath(version, role, log)?;
        }
    }
    Ok(())
}

fn read_valid_classpath(file: &Path) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    let cp = text.trim();
    if cp.is_empty() {
        return None;
    }
    let all_exist = cp.split(':').all(|jar| Path::new(jar).is_file());
    all_exist.then(|| cp.to_string())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_pom_exists_and_names_its_artifact() {
        for version in BrokerVersion::ALL {
            for role in [Role::Namesrv, Role::Broker] {
                let pom = fs::read_to_string(pom_path(version, role)).unwrap();
                assert!(pom.contains(&format!("<artifactId>rocketmq-{}</artifactId>", role)));
                assert!(pom.contains(&format!("<version>{}</version>", version.maven_version())));
            }
        }
    }

    #[test]
    fn tail_lines_keeps_the_last_n_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
    }
}
