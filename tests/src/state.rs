//! The well-known state directory: one small `key=value` file per running
//! cluster, keyed by namesrv port, so `cargo xtask broker stop|status` (another
//! process) can find the run directory and pids of a cluster.

use std::fs;
use std::path::{Path, PathBuf};

use crate::process::pid_matches;
use crate::{BrokerVersion, HarnessError};

/// The state directory: `$RMQ_STATE_DIR`, else `<temp dir>/rmq-harness`.
pub fn state_dir() -> PathBuf {
    match std::env::var_os("RMQ_STATE_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join("rmq-harness"),
    }
}

/// The state file of the cluster whose namesrv listens on `namesrv_port`.
pub fn state_file(namesrv_port: u16) -> PathBuf {
    state_dir().join(format!("cluster-{namesrv_port}.state"))
}

/// What the state file records about one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The RocketMQ line.
    pub version: BrokerVersion,
    /// The namesrv port (on 127.0.0.1).
    pub namesrv_port: u16,
    /// The broker listen port (on 127.0.0.1).
    pub broker_port: u16,
    /// The broker name (`broker-a` unless overridden).
    pub broker_name: String,
    /// The run directory (configs, logs, store).
    pub run_dir: PathBuf,
    /// The namesrv JVM's pid (0: not started).
    pub namesrv_pid: u32,
    /// The broker JVM's pid (0: not started or stopped).
    pub broker_pid: u32,
    /// The pid of the process that started the cluster.
    pub owner_pid: u32,
    /// True when the cluster outlives its starter (`cargo xtask broker start`).
    pub detached: bool,
}

impl ClusterInfo {
    /// `127.0.0.1:<namesrv_port>`.
    pub fn namesrv_addr(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    /// `127.0.0.1:<broker_port>`.
    pub fn broker_addr(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    /// The marker every JVM of this cluster carries on its command line.
    pub(crate) fn marker(&self) -> String {
        marker_for(&self.run_dir)
    }

    /// True while the namesrv JVM runs.
    pub fn namesrv_alive(&self) -> bool {
        self.namesrv_pid != 0 && pid_matches(self.namesrv_pid, &self.marker())
    }

    /// True while the broker JVM runs.
    pub fn broker_alive(&self) -> bool {
        self.broker_pid != 0 && pid_matches(self.broker_pid, &self.marker())
    }

    /// True while the process that started a non-detached cluster runs.
    pub fn owner_alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.owner_pid)).exists()
    }

    pub(crate) fn write(&self) -> Result<(), HarnessError> {
        let dir = state_dir();
        fs::create_dir_all(&dir)
            .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
        let text = format!(
            "version={}\nnamesrv_port={}\nbroker_port={}\nbroker_name={}\nrun_dir={}\n\
             namesrv_pid={}\nbroker_pid={}\nowner_pid={}\ndetached={}\n",
            self.version.major(),
            self.namesrv_port,
            self.broker_port,
            self.broker_name,
            self.run_dir.display(),
            self.namesrv_pid,
            self.broker_pid,
            self.owner_pid,
            self.detached
        );
        let file = state_file(self.namesrv_port);
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        fs::write(&tmp, text)
            .map_err(|e| HarnessError::io(format!("write {}", tmp.display()), e))?;
        fs::rename(&tmp, &file)
            .map_err(|e| HarnessError::io(format!("write {}", file.display()), e))
    }

    /// Reads one state file.
    pub fn read(file: &Path) -> Result<ClusterInfo, HarnessError> {
        let text = fs::read_to_string(file)
            .map_err(|e| HarnessError::io(format!("read {}", file.display()), e))?;
        let get = |key: &str| -> Result<&str, HarnessError> {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .ok_or_else(|| HarnessError::Invalid(format!("{} lacks `{key}`", file.display())))
        };
        let num = |key: &str| -> Result<u32, HarnessError> {
            get(key)?
                .parse()
                .map_err(|_| HarnessError::Invalid(format!("{}: bad `{key}`", file.display())))
        };
        let port = |key: &str| -> Result<u16, HarnessError> {
            u16::try_from(num(key)?)
                .map_err(|_| HarnessError::Invalid(format!("{}: bad `{key}`", file.display())))
        };
        Ok(ClusterInfo {
            version: get("version")?.parse()?,
            namesrv_port: port("namesrv_port")?,
            broker_port: port("broker_port")?,
            broker_name: get("broker_name")?.to_string(),
            run_dir: PathBuf::from(get("run_dir")?),
            namesrv_pid: num("namesrv_pid")?,
            broker_pid: num("broker_pid")?,
            owner_pid: num("owner_pid")?,
            detached: get("detached")? == "true",
        })
    }

    /// Reads the state of the cluster on `namesrv_port`, if any.
    pub fn find(namesrv_port: u16) -> Option<ClusterInfo> {
        let file = state_file(namesrv_port);
        file.exists()
            .then(|| ClusterInfo::read(&file).ok())
            .flatten()
    }

    pub(crate) fn remove_file(&self) {
        let _ = fs::remove_file(state_file(self.namesrv_port));
    }
}

/// Every cluster recorded in the state directory, ordered by namesrv port.
pub fn list_clusters() -> Vec<ClusterInfo> {
    let Ok(entries) = fs::read_dir(state_dir()) else {
        return Vec::new();
    };
    let mut out: Vec<ClusterInfo> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cluster-") && n.ends_with(".state"))
        })
        .filter_map(|p| ClusterInfo::read(&p).ok())
        .collect();
    out.sort_by_key(|c| c.namesrv_port);
    out
}

/// The command-line marker for JVMs of the cluster in `run_dir`.
pub(crate) fn marker_for(run_dir: &Path) -> String {
    format!("-Drmq.harness.run={}", run_dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_file_is_parsed() {
        let dir = std::env::temp_dir().join(format!("rmq-state-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let info = ClusterInfo {
            version: BrokerVersion::V4,
            namesrv_port: 19886,
            broker_port: 20921,
            broker_name: "broker-a".into(),
            run_dir: PathBuf::from("/tmp/x y"),
            namesrv_pid: 10,
            broker_pid: 0,
            owner_pid: 7,
            detached: true,
        };
        let file = dir.join("cluster-19886.state");
        fs::write(
            &file,
            "version=4\nnamesrv_port=19886\nbroker_port=20921\nbroker_name=broker-a\n\
             run_dir=/tmp/x y\nnamesrv_pid=10\nbroker_pid=0\nowner_pid=7\ndetached=true\n",
        )
        .unwrap();
        assert_eq!(ClusterInfo::read(&file).unwrap(), info);
        fs::remove_dir_all(&dir).unwrap();
    }
}
