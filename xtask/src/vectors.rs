//! `cargo xtask vectors [--check]`: regenerates the queue-allocation vectors
//! (`core/tests/vectors/allocation/`) by running the Java client's own
//! strategy classes. Maven compiles the generator (tests/java/allocation-vectors)
//! against rocketmq-client from Maven Central, then `java` runs it.
//! `--check` fails when the regenerated file differs from the committed one.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use crate::{ensure_tool, say, workspace_root};

/// The generator's Maven module, relative to the workspace.
const MODULE: &str = "tests/java/allocation-vectors";
/// The vector file it writes, relative to the workspace.
pub const VECTOR_FILE: &str = "core/tests/vectors/allocation/rocketmq-client-5.5.0.txt";
const MAIN_CLASS: &str = "rmq.vectors.AllocationVectors";

pub fn cmd_vectors(args: &[String]) -> Result<ExitCode, String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            return Err(format!(
                "usage: cargo xtask vectors [--check]; got {args:?}"
            ))
        }
    };
    ensure_tool("java", &["-version"], "openjdk-17-jdk-headless")?;
    ensure_tool("mvn", &["-v"], "maven")?;
    let root = workspace_root();
    let module = root.join(MODULE);
    build_generator(&module)?;

    let classpath_file = module.join("target/classpath.txt");
    let deps = std::fs::read_to_string(&classpath_file)
        .map_err(|e| format!("cannot read {}: {e}", classpath_file.display()))?;
    let classpath = format!(
        "{}:{}",
        module.join("target/classes").display(),
        deps.trim()
    );
    let out = root.join(VECTOR_FILE);
    say(&format!("java {MAIN_CLASS} {VECTOR_FILE}"));
    let run = Command::new(rmq_tests::java_binary())
        .current_dir(&root)
        .arg(format!(
            "-Drocketmq.log.root={}",
            module.join("target/logs").display()
        ))
        .arg("-Drocketmq.log.level=OFF")
        .arg("-cp")
        .arg(&classpath)
        .arg(MAIN_CLASS)
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot run java: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "the generator failed ({}):\n{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    say(String::from_utf8_lossy(&run.stdout).trim());

    if !check {
        say(&format!(
            "to check them against the committed ones: git diff --exit-code -- {VECTOR_FILE}"
        ));
        return Ok(ExitCode::SUCCESS);
    }
    say(&format!("git diff --exit-code --stat -- {VECTOR_FILE}"));
    let same = Command::new("git")
        .current_dir(&root)
        .args(["diff", "--exit-code", "--stat", "--", VECTOR_FILE])
        .status()
        .map_err(|e| format!("cannot run git: {e}"))?
        .success();
    if same {
        say("the vectors are unchanged");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("{VECTOR_FILE} differs from the committed vectors"))
    }
}

/// `mvn -q -f <module>/pom.xml package`: offline first (everything already in
/// ~/.m2), then with Maven Central.
fn build_generator(module: &Path) -> Result<(), String> {
    let pom = module.join("pom.xml");
    let start = Instant::now();
    for offline in [true, false] {
        say(&format!(
            "mvn -q -f {MODULE}/pom.xml package{}",
            if offline {
                " (offline, from ~/.m2)"
            } else {
                " (downloading from Maven Central)"
            }
        ));
        let mut cmd = Command::new("mvn");
        cmd.args(["-q", "-B"]);
        if offline {
            cmd.arg("-o");
        }
        cmd.arg("-f").arg(&pom).arg("package");
        let out = cmd.output().map_err(|e| format!("cannot run mvn: {e}"))?;
        if out.status.success() {
            say(&format!(
                "generator built ({:.1} s)",
                start.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if !offline {
            return Err(format!(
                "mvn package failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}
