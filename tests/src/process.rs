//! JVM processes: spawning, signalling, waiting.
//!
//! Every JVM runs in its own process group, so a Ctrl-C in the terminal
//! reaches the harness (which then stops the cluster in order), not the JVMs.
//! A process is identified by its pid plus a marker string (the run
//! directory) that must appear in `/proc/<pid>/cmdline`, so a recycled pid is
//! never signalled.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::HarnessError;

/// A JVM started by the harness (or found again through its pid file).
#[derive(Debug)]
pub(crate) struct JvmProcess {
    pid: u32,
    marker: String,
    child: Option<Child>,
}

impl JvmProcess {
    /// Spawns `cmd` with stdout and stderr appended to `out_file`, in a new
    /// process group.
    pub(crate) fn spawn(
        mut cmd: Command,
        out_file: &Path,
        marker: String,
    ) -> Result<Self, HarnessError> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out_file)
            .map_err(|e| HarnessError::io(format!("open {}", out_file.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::io(format!("dup {}", out_file.display()), e))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                HarnessError::MissingTool {
                    tool: "java".into(),
                    hint: "install a JDK 17 (Debian: `apt-get install openjdk-17-jre-headless`) \
                           or set JAVA_HOME"
                        .into(),
                }
            } else {
                HarnessError::io("spawn java", e)
            }
        })?;
        Ok(JvmProcess {
            pid: child.id(),
            marker,
            child: Some(child),
        })
    }

    /// Re-attaches to a process recorded in a pid file.
    pub(crate) fn from_pid(pid: u32, marker: String) -> Self {
        JvmProcess {
            pid,
            marker,
            child: None,
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Gives up ownership of the `Child` handle (the process keeps running).
    pub(crate) fn detach(&mut self) {
        self.child = None;
    }

    /// `None` while running; `Some(description)` once it has exited.
    pub(crate) fn exit_status(&mut self) -> Option<String> {
        match &mut self.child {
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(format!("unknown status: {e}")),
            },
            None => (!pid_matches(self.pid, &self.marker)).then(|| "exited".to_string()),
        }
    }

    /// True while the process runs.
    pub(crate) fn is_alive(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Sends SIGTERM (the JVM runs its shutdown hooks), waits up to `grace`,
    /// then sends SIGKILL and waits for the exit. Returns true if SIGKILL was
    /// needed.
    pub(crate) fn terminate(&mut self, grace: Duration) -> bool {
        if !self.is_alive() {
            return false;
        }
        self.signal("TERM");
        // A paused (SIGSTOP) process acts on SIGTERM only once continued.
        self.signal("CONT");
        if self.wait_exit(grace) {
            return false;
        }
        self.kill();
        true
    }

    /// Sends SIGKILL and waits (bounded) for the exit.
    pub(crate) fn kill(&mut self) {
        if !self.is_alive() {
            return;
        }
        self.signal("KILL");
        self.wait_exit(Duration::from_secs(10));
    }

    /// Freezes the process (SIGSTOP): its sockets stay open but nothing is
    /// read or answered.
    pub(crate) fn pause(&mut self) {
        self.signal("STOP");
    }

    /// Continues a process frozen by [`JvmProcess::pause`] (SIGCONT).
    pub(crate) fn resume(&mut self) {
        self.signal("CONT");
    }

    fn signal(&mut self, sig: &str) {
        // Only signal a pid that is still ours: our own un-reaped child, or a
        // process whose command line carries our run-directory marker.
        let ours = match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => pid_matches(self.pid, &self.marker),
        };
        if ours {
            send_signal(self.pid, sig);
        }
    }

    fn wait_exit(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.is_alive() {
                return true;
            }
            thread::sleep(Duration::from_millis(100));
        }
        !self.is_alive()
    }
}

/// Sends a signal through `kill(1)` (the harness has no `unsafe`, no libc).
pub(crate) fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// True when `pid` runs (not a zombie) and its command line contains `marker`.
pub(crate) fn pid_matches(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3 (after the parenthesised name) is the state; Z = zombie.
        if let Some(rest) = stat.rsplit(')').next() {
            if rest.trim_start().starts_with('Z') {
                return false;
            }
        }
    }
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains(marker)
}

/// Resident set size of `pid` in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
