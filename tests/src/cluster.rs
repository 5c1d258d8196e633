//! A real Apache RocketMQ cluster (one namesrv + one master broker, and
//! more masters on request: [`Cluster::add_broker`]) on 127.0.0.1, started
//! from Maven Central jars.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::maven::{self, tail_lines};
use crate::probe;
use crate::process::{self, JvmProcess};
use crate::state::{self, marker_for, ClusterInfo};
use crate::{BrokerVersion, HarnessError, Role};

/// Subdirectory of the run directory holding the brokers of
/// [`Cluster::add_broker`], one directory per broker name.
const EXTRA_BROKERS_DIR: &str = "brokers";
/// Subdirectory of the run directory holding the name servers after the
/// first ([`ClusterSpec::with_second_namesrv`]), one directory each (`ns1`, …).
const EXTRA_NAMESRVS_DIR: &str = "namesrvs";
/// How long startup may take (namesrv + broker registered), unless
/// `RMQ_HARNESS_TIMEOUT_SECS` says otherwise.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a JVM gets to run its shutdown hooks after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// Lines of each log printed when startup fails.
const LOG_TAIL_LINES: usize = 40;
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Which RocketMQ line.
    pub version: BrokerVersion,
    /// The namesrv port on 127.0.0.1.
    pub namesrv_port: u16,
    /// The broker listen port on 127.0.0.1; the broker also binds
    /// `broker_port - 2` (fast channel) and `broker_port + 1` (HA).
    pub broker_port: u16,
    /// Extra broker settings, applied after (and overriding) the harness
    /// defaults, e.g. `("transactionCheckInterval", "1000")`. A key starting
    /// with `-D` becomes a JVM system property of the broker instead, e.g.
    /// `("-Dtls.server.mode", "permissive")`. Unknown keys are silently
    /// ignored by the broker: check `broker.log`.
    pub extra_broker_config: Vec<(String, String)>,
    /// Extra files written under the cluster's `ROCKETMQ_HOME` before the
    /// JVMs start, as (path relative to `ROCKETMQ_HOME`, contents), e.g.
    /// `("conf/plain_acl.yml", yaml)` for 4.9 ACL. Paths must be relative
    /// and must not contain `..`.
    pub home_files: Vec<(String, String)>,
    /// Ports of more name servers on 127.0.0.1, started with the first; every
    /// broker registers with all of them (`namesrvAddr` lists them all).
    pub extra_namesrv_ports: Vec<u16>,
    /// Extra JVM system properties of every name server, as (key without
    /// `-D`, value), e.g. `("tls.server.mode", "enforcing")`.
    pub namesrv_jvm_props: Vec<(String, String)>,
}

impl ClusterSpec {
    /// A spec with the version's default ports and no extra config.
    pub fn new(version: BrokerVersion) -> Self {
        ClusterSpec {
            version,
            namesrv_port: version.default_namesrv_port(),
            broker_port: version.default_broker_port(),
            extra_broker_config: Vec::new(),
            home_files: Vec::new(),
            extra_namesrv_ports: Vec::new(),
            namesrv_jvm_props: Vec::new(),
        }
    }

    /// Adds a second name server on a free port (builder style): the
    /// harness's cluster mode of two name servers, each killable and
    /// restartable ([`Cluster::kill_namesrv`], [`Cluster::start_namesrv`]).
    pub fn with_second_namesrv(mut self) -> Result<Self, HarnessError> {
        let (port, _) = pick_free_ports()?;
        self.extra_namesrv_ports.push(port);
        Ok(self)
    }

    /// A spec whose ports are currently free, chosen from 12000..32000 so that
    /// tests in parallel threads or processes do not collide.
    pub fn with_free_ports(version: BrokerVersion) -> Result<Self, HarnessError> {
        let (namesrv_port, broker_port) = pick_free_ports()?;
        Ok(ClusterSpec {
            namesrv_port,
            broker_port,
            ..ClusterSpec::new(version)
        })
    }

    /// Adds one extra broker setting (builder style).
    pub fn broker_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_broker_config.push((key.into(), value.into()));
        self
    }

    /// Adds one file under `ROCKETMQ_HOME` (builder style), written before
    /// the JVMs start; see [`ClusterSpec::home_files`].
    pub fn home_file(
        mut self,
        relative_path: impl Into<String>,
        contents: impl Into<String>,
    ) -> Self {
        self.home_files
            .push((relative_path.into(), contents.into()));
        self
    }

    /// Adds one JVM system property of every name server (builder style),
    /// e.g. `("tls.server.mode", "enforcing")`; a leading `-D` is dropped.
    pub fn namesrv_jvm_prop(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        let key = key.trim().trim_start_matches("-D").to_string();
        self.namesrv_jvm_props.push((key, value.into()));
        self
    }

    /// True when the name servers refuse plaintext
    /// (`tls.server.mode=enforcing`): readiness is then "the port accepts".
    fn namesrv_tls_enforced(&self) -> bool {
        self.namesrv_jvm_props
            .iter()
            .any(|(k, v)| k == "tls.server.mode" && v.trim() == "enforcing")
    }

    /// True when the brokers refuse plaintext (`-Dtls.server.mode` =
    /// `enforcing` among the extras).
    fn broker_tls_enforced(&self) -> bool {
        self.extra_broker_config
            .iter()
            .any(|(k, v)| k.trim() == "-Dtls.server.mode" && v.trim() == "enforcing")
    }

    /// Whether the name server at `addr` is up: it answers a plaintext
    /// probe, or (TLS enforced) accepts connections.
    fn namesrv_up(&self, addr: &str) -> bool {
        if self.namesrv_tls_enforced() {
            tcp_accepts(addr, PROBE_TIMEOUT)
        } else {
            probe::namesrv_answers(addr, PROBE_TIMEOUT)
        }
    }

    /// Whether the broker `name` at `addr` is up and registered with every
    /// answering name server of `namesrvs`. With TLS enforced the plaintext probes cannot
    /// talk: the broker then only has to accept connections, and the
    /// registration (through a TLS name server) is the test's to wait for.
    fn broker_up(&self, namesrvs: &[String], name: &str, addr: &str) -> bool {
        let answers = if self.broker_tls_enforced() {
            tcp_accepts(addr, PROBE_TIMEOUT)
        } else if self.auth_enabled() {
            probe::broker_responds(addr, PROBE_TIMEOUT)
        } else {
            probe::broker_answers(addr, PROBE_TIMEOUT)
        };
        answers
            && (self.namesrv_tls_enforced()
                || probe::broker_registered_with_all(namesrvs, name, addr, PROBE_TIMEOUT))
    }

    /// True when the extras switch broker authentication on (4.9
    /// `aclEnable`, 5.x `authenticationEnabled`): the broker then refuses the
    /// unsigned readiness probe, so any answer counts as "up".
    fn auth_enabled(&self) -> bool {
        self.extra_broker_config.iter().any(|(k, v)| {
            matches!(k.trim(), "aclEnable" | "authenticationEnabled") && v.trim() == "true"
        })
    }
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec::new(BrokerVersion::V5)
    }
}

/// How long each startup phase took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupTimes {
    /// Spawn to namesrv answering GET_BROKER_CLUSTER_INFO.
    pub namesrv: Duration,
    /// Spawn to broker answering and registered with the namesrv.
    pub broker: Duration,
}

/// A running namesrv + broker. Dropping it kills both JVMs (SIGKILL) and
/// removes the run directory, unless [`Cluster::detach`] was called.
#[derive(Debug)]
pub struct Cluster {
    info: ClusterInfo,
    broker_cluster_name: String,
    namesrv: Option<JvmProcess>,
    broker: Option<JvmProcess>,
    broker_cmd: BrokerCommand,
    times: StartupTimes,
    finished: bool,
    /// Broker authentication is on: readiness accepts any broker answer.
    auth_enabled: bool,
    /// The spec the cluster was started from (extra brokers reuse it).
    spec: ClusterSpec,
    /// Brokers added with [`Cluster::add_broker`], in order.
    extra_brokers: Vec<ExtraBroker>,
    /// How the first name server is started (for [`Cluster::start_namesrv`]).
    namesrv_cmd: BrokerCommand,
    /// The name servers after the first, in [`ClusterSpec::extra_namesrv_ports`] order.
    extra_namesrvs: Vec<ExtraNamesrv>,
}

/// A name server after the first: its own port and run subdirectory.
#[derive(Debug)]
struct ExtraNamesrv {
    port: u16,
    root: PathBuf,
    cmd: BrokerCommand,
    process: Option<JvmProcess>,
}

/// A master broker started by [`Cluster::add_broker`] next to the cluster's
/// own: same namesrv and cluster name, its own ports and run subdirectory.
#[derive(Debug)]
struct ExtraBroker {
    name: String,
    port: u16,
    root: PathBuf,
    cmd: BrokerCommand,
    process: Option<JvmProcess>,
}

#[derive(Debug, Clone)]
struct BrokerCommand {
    java: PathBuf,
    args: Vec<String>,
    env_home: PathBuf,
}

/// Namesrv ports of the non-detached clusters this process started, for
/// [`kill_all_started`].
static STARTED: Mutex<Vec<u16>> = Mutex::new(Vec::new());

impl Cluster {
    /// Resolves the jars (Maven, cached), writes a fresh run directory, starts
    /// the namesrv and then the broker, and waits (bounded, see
    /// [`DEFAULT_START_TIMEOUT`]) until the namesrv lists the broker.
    pub fn start(spec: ClusterSpec) -> Result<Cluster, HarnessError> {
        Cluster::start_with_log(spec, &mut |line| eprintln!("[rmq-tests] {line}"))
    }

    /// [`Cluster::start`] with a custom sink for progress lines.
    pub fn start_with_log(
        spec: ClusterSpec,
        log: &mut dyn FnMut(&str),
    ) -> Result<Cluster, HarnessError> {
        let version = spec.version;
        check_no_cluster_on(spec.namesrv_port)?;
        check_ports_free(&spec)?;
        let namesrv_cp = maven::classpath(version, Role::Namesrv, log)?;
        let broker_cp = maven::classpath(version, Role::Broker, log)?;
        let java = java_binary();

        let run_dir = create_run_dir(&spec)?;
        let layout = Layout::new(&run_dir);
        layout.create()?;
        let (broker_props, broker_jvm_props) = broker_properties(&spec, &layout);
        let lookup = |key: &str| {
            broker_props
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let broker_name = lookup("brokerName").unwrap_or_else(|| "broker-a".into());
        let broker_cluster_name = lookup("brokerClusterName").unwrap_or_default();
        write_file(
            &layout.conf.join("namesrv.properties"),
            &format!("listenPort={}\n", spec.namesrv_port),
        )?;
        write_file(
            &layout.conf.join("broker.properties"),
            &properties_text(&broker_props),
        )?;
        write_logging_config(version, &layout)?;
        write_home_files(&spec, &layout)?;

        let mut cluster = Cluster {
            info: ClusterInfo {
                version,
                namesrv_port: spec.namesrv_port,
                broker_port: spec.broker_port,
                broker_name,
                run_dir: run_dir.clone(),
                namesrv_pid: 0,
                broker_pid: 0,
                owner_pid: std::process::id(),
                detached: false,
            },
            broker_cluster_name,
            namesrv: None,
            broker: None,
            broker_cmd: BrokerCommand {
                java: java.clone(),
                args: jvm_args(
                    version,
                    Role::Broker,
                    &layout,
                    &broker_cp,
                    &broker_jvm_props,
                ),
                env_home: layout.home.clone(),
            },
            times: StartupTimes::default(),
            finished: false,
            auth_enabled: spec.auth_enabled(),
            spec: spec.clone(),
            extra_brokers: Vec::new(),
            namesrv_cmd: BrokerCommand {
                java: java.clone(),
                args: jvm_args(
                    version,
                    Role::Namesrv,
                    &layout,
                    &namesrv_cp,
                    &spec.namesrv_jvm_props,
                ),
                env_home: layout.home.clone(),
            },
            extra_namesrvs: Vec::new(),
        };
        cluster.info.write()?;
        if let Ok(mut started) = STARTED.lock() {
            started.push(spec.namesrv_port);
        }
        // From here on, Drop cleans up whatever was started.

        let deadline = Instant::now() + start_timeout();
        let t0 = Instant::now();
        let ns_args = cluster.namesrv_cmd.args.clone();
        let mut ns = spawn_jvm(&java, &ns_args, &layout.home, &layout, Role::Namesrv)?;
        cluster.info.namesrv_pid = ns.pid();
        cluster.info.write()?;
        let ns_addr = cluster.namesrv_addr();
        let waited = wait_until(&mut ns, deadline, || spec.namesrv_up(&ns_addr));
        cluster.namesrv = Some(ns);
        cluster.readiness_result(waited, Role::Namesrv, t0)?;
        cluster.times.namesrv = t0.elapsed();
        log(&format!(
            "{version} namesrv ready on {} in {:.1} s",
            cluster.namesrv_addr(),
            cluster.times.namesrv.as_secs_f64()
        ));
        for &port in &spec.extra_namesrv_ports {
            cluster.add_namesrv(port, &namesrv_cp, deadline)?;
            log(&format!("{version} namesrv ready on 127.0.0.1:{port}"));
        }
        cluster.spawn_broker_and_wait(deadline)?;
        log(&format!(
            "{version} broker {} ready on {} in {:.1} s (run dir {})",
            cluster.info.broker_name,
            cluster.broker_addr(),
            cluster.times.broker.as_secs_f64(),
            run_dir.display()
        ));
        Ok(cluster)
    }

    fn spawn_broker_and_wait(&mut self, deadline: Instant) -> Result<(), HarnessError> {
        let t0 = Instant::now();
        let layout = Layout::new(&self.info.run_dir);
        let mut broker = spawn_jvm(
            &self.broker_cmd.java,
            &self.broker_cmd.args,
            &self.broker_cmd.env_home,
            &layout,
            Role::Broker,
        )?;
        self.info.broker_pid = broker.pid();
        self.info.write()?;
        let (namesrvs, broker_addr, name) = (
            self.namesrv_addrs(),
            self.broker_addr(),
            self.info.broker_name.clone(),
        );
        let spec = &self.spec;
        let waited = wait_until(&mut broker, deadline, || {
            spec.broker_up(&namesrvs, &name, &broker_addr)
        });
        self.broker = Some(broker);
        self.readiness_result(waited, Role::Broker, t0)?;
        self.times.broker = t0.elapsed();
        Ok(())
    }

    fn readiness_result(
        &mut self,
        waited: Result<(), Option<String>>,
        role: Role,
        t0: Instant,
    ) -> Result<(), HarnessError> {
        let what = format!(
            "{} {role} ({})",
            self.info.version,
            match role {
                Role::Namesrv => self.namesrv_addr(),
                Role::Broker => self.broker_addr(),
            }
        );
        match waited {
            Ok(()) => Ok(()),
            Err(Some(status)) => Err(HarnessError::Exited {
                what,
                status,
                logs: self.log_tails(role),
            }),
            Err(None) => Err(HarnessError::Timeout {
                what,
                waited: t0.elapsed(),
                logs: self.log_tails(role),
            }),
        }
    }

    fn add_namesrv(
        &mut self,
        port: u16,
        classpath: &str,
        deadline: Instant,
    ) -> Result<(), HarnessError> {
        let index = self.extra_namesrvs.len() + 1;
        let root = self
            .info
            .run_dir
            .join(EXTRA_NAMESRVS_DIR)
            .join(format!("ns{index}"));
        let layout = Layout::new(&root);
        layout.create()?;
        write_file(
            &layout.conf.join("namesrv.properties"),
            &format!("listenPort={port}\n"),
        )?;
        write_logging_config(self.info.version, &layout)?;
        let cmd = BrokerCommand {
            java: self.namesrv_cmd.java.clone(),
            args: jvm_args(
                self.info.version,
                Role::Namesrv,
                &layout,
                classpath,
                &self.spec.namesrv_jvm_props,
            ),
            env_home: layout.home.clone(),
        };
        self.extra_namesrvs.push(ExtraNamesrv {
            port,
            root,
            cmd,
            process: None,
        });
        self.spawn_namesrv_and_wait(index, deadline)
    }

    /// Every name server's address, the first first (what a client's
    /// `;`-separated name-server list names).
    pub fn namesrv_addrs(&self) -> Vec<String> {
        let mut out = vec![self.namesrv_addr()];
        out.extend(
            self.extra_namesrvs
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.port)),
        );
        out
    }

    /// Kills name server `index` (0 = the first) with SIGKILL.
    pub fn kill_namesrv(&mut self, index: usize) -> Result<(), HarnessError> {
        let process = if index == 0 {
            self.info.namesrv_pid = 0;
            self.info.write()?;
            self.namesrv.take()
        } else {
            self.extra_namesrv(index)?.process.take()
        };
        if let Some(mut p) = process {
            p.kill();
        }
        Ok(())
    }

    /// Starts name server `index` again on its port and waits (bounded)
    /// until it answers. Brokers re-register with it within their 30 s
    /// registration interval; this does not wait for that.
    pub fn start_namesrv(&mut self, index: usize) -> Result<(), HarnessError> {
        self.spawn_namesrv_and_wait(index, Instant::now() + start_timeout())
    }

    /// True while name server `index` runs.
    pub fn namesrv_running(&mut self, index: usize) -> bool {
        if index == 0 {
            return self.namesrv.as_mut().is_some_and(JvmProcess::is_alive);
        }
        self.extra_namesrv(index)
            .is_ok_and(|n| n.process.as_mut().is_some_and(JvmProcess::is_alive))
    }

    fn extra_namesrv(&mut self, index: usize) -> Result<&mut ExtraNamesrv, HarnessError> {
        let count = self.extra_namesrvs.len() + 1;
        index
            .checked_sub(1)
            .and_then(|i| self.extra_namesrvs.get_mut(i))
            .ok_or_else(|| {
                HarnessError::InvalidState(format!(
                    "no name server {index} (the cluster has {count})"
                ))
            })
    }

    fn spawn_namesrv_and_wait(
        &mut self,
        index: usize,
        deadline: Instant,
    ) -> Result<(), HarnessError> {
        if self.namesrv_running(index) {
            return Err(HarnessError::InvalidState(format!(
                "name server {index} is already running"
            )));
        }
        let (cmd, root, port) = if index == 0 {
            (
                self.namesrv_cmd.clone(),
                self.info.run_dir.clone(),
                self.info.namesrv_port,
            )
        } else {
            let n = self.extra_namesrv(index)?;
            (n.cmd.clone(), n.root.clone(), n.port)
        };
        let free_by = Instant::now() + Duration::from_secs(10);
        while !port_free(port) && Instant::now() < free_by {
            thread::sleep(Duration::from_millis(100));
        }
        let t0 = Instant::now();
        let layout = Layout::new(&root);
        let mut ns = spawn_jvm(&cmd.java, &cmd.args, &cmd.env_home, &layout, Role::Namesrv)?;
        let addr = format!("127.0.0.1:{port}");
        let spec = self.spec.clone();
        let waited = wait_until(&mut ns, deadline, || spec.namesrv_up(&addr));
        let what = format!("{} namesrv {index} ({addr})", self.info.version);
        let pid = ns.pid();
        if index == 0 {
            self.namesrv = Some(ns);
            self.info.namesrv_pid = pid;
            self.info.write()?;
        } else {
            self.extra_namesrv(index)?.process = Some(ns);
        }
        match waited {
            Ok(()) => Ok(()),
            Err(Some(status)) => Err(HarnessError::Exited {
                what,
                status,
                logs: log_tail(&root, Role::Namesrv, LOG_TAIL_LINES),
            }),
            Err(None) => Err(HarnessError::Timeout {
                what,
                waited: t0.elapsed(),
                logs: log_tail(&root, Role::Namesrv, LOG_TAIL_LINES),
            }),
        }
    }

    /// `127.0.0.1:<namesrv port>`.
    pub fn namesrv_addr(&self) -> String {
        self.info.namesrv_addr()
    }

    /// `127.0.0.1:<broker port>` (what the namesrv hands to clients).
    pub fn broker_addr(&self) -> String {
        self.info.broker_addr()
    }

    /// The broker name (`broker-a` unless overridden in the spec).
    pub fn broker_name(&self) -> &str {
        &self.info.broker_name
    }

    /// The broker cluster name (`DefaultCluster` unless overridden).
    pub fn cluster_name(&self) -> &str {
        &self.broker_cluster_name
    }

    /// The RocketMQ line this cluster runs.
    pub fn version(&self) -> BrokerVersion {
        self.info.version
    }

    /// The run directory: `conf/`, `logs/` (`namesrv.log`, `broker.log`),
    /// `*.out` (JVM stdout/stderr), `*.pid`, `store/`.
    pub fn run_dir(&self) -> &Path {
        &self.info.run_dir
    }

    /// The state-file record (ports, pids, run dir).
    pub fn info(&self) -> &ClusterInfo {
        &self.info
    }

    /// How long startup took (the broker figure is the last broker start).
    pub fn startup_times(&self) -> StartupTimes {
        self.times
    }

    /// The JVM pids (namesrv, broker); `None` for a stopped process.
    pub fn pids(&self) -> (Option<u32>, Option<u32>) {
        (
            self.namesrv.as_ref().map(JvmProcess::pid),
            self.broker.as_ref().map(JvmProcess::pid),
        )
    }

    /// True while the broker JVM runs.
    pub fn broker_running(&mut self) -> bool {
        self.broker.as_mut().is_some_and(JvmProcess::is_alive)
    }

    /// Stops the broker gracefully (SIGTERM: it unregisters, flushes and
    /// removes its abort file; SIGKILL after [`STOP_GRACE`]) and waits up to
    /// 30 s for the namesrv to drop it. The store is kept for
    /// [`Cluster::start_broker`].
    pub fn stop_broker(&mut self) -> Result<(), HarnessError> {
        if let Some(mut broker) = self.broker.take() {
            broker.terminate(STOP_GRACE);
        }
        self.after_broker_exit()
    }

    /// Kills the broker with SIGKILL (a crash: the next start recovers from
    /// the abort file). The store is kept for [`Cluster::start_broker`].
    pub fn kill_broker(&mut self) -> Result<(), HarnessError> {
        if let Some(mut broker) = self.broker.take() {
            broker.kill();
        }
        self.after_broker_exit()
    }

    fn after_broker_exit(&mut self) -> Result<(), HarnessError> {
        self.info.broker_pid = 0;
        self.info.write()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let (ns, name, addr) = (self.namesrv_addr(), self.broker_name(), self.broker_addr());
        while Instant::now() < deadline && probe::broker_registered(&ns, name, &addr, PROBE_TIMEOUT)
        {
            thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Starts the broker again on the same configuration and store, and waits
    /// until it is registered. Fails if it is already running.
    pub fn start_broker(&mut self) -> Result<(), HarnessError> {
        if self.broker_running() {
            return Err(HarnessError::InvalidState(format!(
                "the broker on {} is already running",
                self.broker_addr()
            )));
        }
        self.broker = None;
        let ports = [
            self.info.broker_port,
            self.info.broker_port.wrapping_sub(2),
            self.info.broker_port.wrapping_add(1),
        ];
        // The old JVM's sockets can take a moment to disappear.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ports.iter().any(|p| !port_free(*p)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
        }
        self.spawn_broker_and_wait(Instant::now() + start_timeout())
    }

    /// Starts one more master broker (`brokerId` 0) named `name` in this
    /// cluster: same namesrv and cluster name and the spec's extra settings,
    /// its own free ports and its own configuration, logs and store under
    /// `<run dir>/brokers/<name>/`. Waits (bounded, see
    /// [`DEFAULT_START_TIMEOUT`]) until it answers and the namesrv lists it,
    /// and returns its address. The `*_broker_named` methods, [`Cluster::stop`]
    /// and Drop handle it like the cluster's own broker.
    pub fn add_broker(&mut self, name: &str) -> Result<String, HarnessError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(HarnessError::Invalid(format!(
                "broker name {name:?}: use ASCII letters, digits, - and _"
            )));
        }
        if self.broker_named_exists(name) {
            return Err(HarnessError::InvalidState(format!(
                "the cluster already has a broker named {name}"
            )));
        }
        let (_, port) = pick_free_ports()?;
        let root = self.info.run_dir.join(EXTRA_BROKERS_DIR).join(name);
        let layout = Layout::new(&root);
        layout.create()?;
        let spec = ClusterSpec {
            broker_port: port,
            ..self.spec.clone()
        };
        let (mut props, jvm_props) = broker_properties(&spec, &layout);
        props.retain(|(k, _)| k != "brokerName");
        props.push(("brokerName".into(), name.to_string()));
        write_file(
            &layout.conf.join("broker.properties"),
            &properties_text(&props),
        )?;
        write_logging_config(spec.version, &layout)?;
        write_home_files(&spec, &layout)?;
        let classpath = maven::classpath(spec.version, Role::Broker, &mut |_| {})?;
        let cmd = BrokerCommand {
            java: self.broker_cmd.java.clone(),
            args: jvm_args(spec.version, Role::Broker, &layout, &classpath, &jvm_props),
            env_home: layout.home.clone(),
        };
        self.extra_brokers.push(ExtraBroker {
            name: name.to_string(),
            port,
            root,
            cmd,
            process: None,
        });
        self.start_broker_named(name)?;
        Ok(format!("127.0.0.1:{port}"))
    }

    /// Waits (up to `limit`) until every running broker is registered with
    /// every answering name server. A name server started again knows no
    /// broker until each re-registers (every `registerNameServerPeriod`,
    /// 30 s by default): a client asking it for a route in between gets
    /// TOPIC_NOT_EXIST.
    pub fn wait_for_registrations(&mut self, limit: Duration) -> Result<(), HarnessError> {
        let namesrvs = self.namesrv_addrs();
        let mut brokers = Vec::new();
        for (name, addr) in self.broker_addrs() {
            if self.broker_running_named(&name) {
                brokers.push((name, addr));
            }
        }
        let start = Instant::now();
        loop {
            let pending: Vec<&str> = brokers
                .iter()
                .filter(|(name, addr)| {
                    !probe::broker_registered_with_all(&namesrvs, name, addr, PROBE_TIMEOUT)
                })
                .map(|(name, _)| name.as_str())
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= limit {
                return Err(HarnessError::Timeout {
                    what: format!(
                        "brokers {pending:?} registered with every name server of {namesrvs:?}"
                    ),
                    waited: limit,
                    logs: String::new(),
                });
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every broker of the cluster as (name, address): the cluster's own
    /// first, then those of [`Cluster::add_broker`] in order, running or not.
    pub fn broker_addrs(&self) -> Vec<(String, String)> {
        let mut out = vec![(self.info.broker_name.clone(), self.broker_addr())];
        out.extend(
            self.extra_brokers
                .iter()
                .map(|b| (b.name.clone(), format!("127.0.0.1:{}", b.port))),
        );
        out
    }

    fn broker_named_exists(&self, name: &str) -> bool {
        name == self.info.broker_name || self.extra_brokers.iter().any(|b| b.name == name)
    }

    fn extra_broker(&mut self, name: &str) -> Result<&mut ExtraBroker, HarnessError> {
        self.extra_brokers
            .iter_mut()
            .find(|b| b.name == name)
            .ok_or_else(|| HarnessError::InvalidState(format!("no broker named {name}")))
    }

    /// [`Cluster::stop_broker`] for the broker called `name` (the cluster's
    /// own or one of [`Cluster::add_broker`]).
    pub fn stop_broker_named(&mut self, name: &str) -> Result<(), HarnessError> {
        self.halt_broker_named(name, false)
    }

    /// [`Cluster::kill_broker`] for the broker called `name`.
    pub fn kill_broker_named(&mut self, name: &str) -> Result<(), HarnessError> {
        self.halt_broker_named(name, true)
    }

    fn halt_broker_named(&mut self, name: &str, kill: bool) -> Result<(), HarnessError> {
        if name == self.info.broker_name {
            return if kill {
                self.kill_broker()
            } else {
                self.stop_broker()
            };
        }
        let ns = self.namesrv_addr();
        let extra = self.extra_broker(name)?;
        if let Some(mut broker) = extra.process.take() {
            if kill {
                broker.kill();
            } else {
                broker.terminate(STOP_GRACE);
            }
        }
        let _ = fs::remove_file(extra.root.join("broker.pid"));
        let addr = format!("127.0.0.1:{}", extra.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && probe::broker_registered(&ns, name, &addr, PROBE_TIMEOUT)
        {
            thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// [`Cluster::start_broker`] for the broker called `name`: starts it
    /// again on its configuration and store and waits until it is registered.
    pub fn start_broker_named(&mut self, name: &str) -> Result<(), HarnessError> {
        if name == self.info.broker_name {
            return self.start_broker();
        }
        let namesrvs = self.namesrv_addrs();
        let auth_enabled = self.auth_enabled;
        let version = self.info.version;
        let extra = self.extra_broker(name)?;
        if extra.process.as_mut().is_some_and(JvmProcess::is_alive) {
            return Err(HarnessError::InvalidState(format!(
                "the broker {name} on 127.0.0.1:{} is already running",
                extra.port
            )));
        }
        extra.process = None;
        let ports = [
            extra.port,
            extra.port.wrapping_sub(2),
            extra.port.wrapping_add(1),
        ];
        let free_by = Instant::now() + Duration::from_secs(10);
        while ports.iter().any(|p| !port_free(*p)) && Instant::now() < free_by {
            thread::sleep(Duration::from_millis(100));
        }
        let t0 = Instant::now();
        let deadline = t0 + start_timeout();
        let layout = Layout::new(&extra.root);
        let mut broker = spawn_jvm(
            &extra.cmd.java,
            &extra.cmd.args,
            &extra.cmd.env_home,
            &layout,
            Role::Broker,
        )?;
        let addr = format!("127.0.0.1:{}", extra.port);
        let waited = wait_until(&mut broker, deadline, || {
            let answers = if auth_enabled {
                probe::broker_responds(&addr, PROBE_TIMEOUT)
            } else {
                probe::broker_answers(&addr, PROBE_TIMEOUT)
            };
            answers && probe::broker_registered_with_all(&namesrvs, name, &addr, PROBE_TIMEOUT)
        });
        extra.process = Some(broker);
        let what = format!("{version} broker {name} ({addr})");
        match waited {
            Ok(()) => {
                self.times.broker = t0.elapsed();
                Ok(())
            }
            Err(Some(status)) => Err(HarnessError::Exited {
                what,
                status,
                logs: log_tail(&extra.root, Role::Broker, LOG_TAIL_LINES),
            }),
            Err(None) => Err(HarnessError::Timeout {
                what,
                waited: t0.elapsed(),
                logs: log_tail(&extra.root, Role::Broker, LOG_TAIL_LINES),
            }),
        }
    }

    /// Freezes the broker called `name` (SIGSTOP): its port still accepts
    /// connections but it answers nothing, and the namesrv keeps listing it
    /// until its registration expires (120 s) — an unresponsive broker, as
    /// opposed to a stopped one. [`Cluster::resume_broker_named`] undoes it;
    /// stopping or killing the cluster works on a frozen broker too.
    pub fn pause_broker_named(&mut self, name: &str) -> Result<(), HarnessError> {
        self.broker_process_named(name)?.pause();
        Ok(())
    }

    /// Continues a broker frozen by [`Cluster::pause_broker_named`] (SIGCONT).
    pub fn resume_broker_named(&mut self, name: &str) -> Result<(), HarnessError> {
        self.broker_process_named(name)?.resume();
        Ok(())
    }

    fn broker_process_named(&mut self, name: &str) -> Result<&mut JvmProcess, HarnessError> {
        let process = if name == self.info.broker_name {
            self.broker.as_mut()
        } else {
            self.extra_broker(name)?.process.as_mut()
        };
        process
            .ok_or_else(|| HarnessError::InvalidState(format!("the broker {name} is not running")))
    }

    /// True while the broker called `name` runs.
    pub fn broker_running_named(&mut self, name: &str) -> bool {
        if name == self.info.broker_name {
            return self.broker_running();
        }
        self.extra_broker(name)
            .is_ok_and(|b| b.process.as_mut().is_some_and(JvmProcess::is_alive))
    }

    /// Stops the broker, then the namesrv (SIGTERM, bounded wait, SIGKILL),
    /// and removes the run directory and state file.
    pub fn stop(mut self) -> Result<(), HarnessError> {
        for extra in &mut self.extra_brokers {
            if let Some(mut broker) = extra.process.take() {
                broker.terminate(STOP_GRACE);
            }
        }
        if let Some(mut broker) = self.broker.take() {
            broker.terminate(STOP_GRACE);
        }
        if let Some(mut ns) = self.namesrv.take() {
            ns.terminate(STOP_GRACE);
        }
        for extra in &mut self.extra_namesrvs {
            if let Some(mut ns) = extra.process.take() {
                ns.terminate(STOP_GRACE);
            }
        }
        self.cleanup()
    }

    /// Leaves the JVMs running after this value is gone (for
    /// `cargo xtask broker start`); [`stop_detached`] stops them later.
    pub fn detach(mut self) -> Result<ClusterInfo, HarnessError> {
        for p in [self.namesrv.as_mut(), self.broker.as_mut()]
            .into_iter()
            .chain(self.extra_brokers.iter_mut().map(|b| b.process.as_mut()))
            .chain(self.extra_namesrvs.iter_mut().map(|n| n.process.as_mut()))
            .flatten()
        {
            p.detach();
        }
        self.info.detached = true;
        self.info.write()?;
        self.forget_started();
        self.finished = true;
        Ok(self.info.clone())
    }

    /// The last `n` lines of `role`'s log file and JVM output.
    pub fn log_tail(&self, role: Role, n: usize) -> String {
        log_tail(&self.info.run_dir, role, n)
    }

    fn log_tails(&self, role: Role) -> String {
        log_tail(&self.info.run_dir, role, LOG_TAIL_LINES)
    }

    fn cleanup(&mut self) -> Result<(), HarnessError> {
        self.finished = true;
        self.forget_started();
        self.info.remove_file();
        remove_run_dir(&self.info.run_dir)
    }

    fn forget_started(&self) {
        if let Ok(mut started) = STARTED.lock() {
            started.retain(|p| *p != self.info.namesrv_port);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        for extra in &mut self.extra_brokers {
            if let Some(mut broker) = extra.process.take() {
                broker.kill();
            }
        }
        if let Some(mut broker) = self.broker.take() {
            broker.kill();
        }
        if let Some(mut ns) = self.namesrv.take() {
            ns.kill();
        }
        for extra in &mut self.extra_namesrvs {
            if let Some(mut ns) = extra.process.take() {
                ns.kill();
            }
        }
        let _ = self.cleanup();
    }
}

/// Stops a cluster recorded in the state directory (typically one started by
/// `cargo xtask broker start`): broker first, then namesrv, then removes its
/// run directory and state file. Only pids whose command line carries the
/// cluster's run-directory marker are signalled.
pub fn stop_detached(namesrv_port: u16) -> Result<ClusterInfo, HarnessError> {
    let info = ClusterInfo::find(namesrv_port).ok_or(HarnessError::NotRunning { namesrv_port })?;
    stop_recorded(&info, false);
    Ok(info)
}

fn stop_recorded(info: &ClusterInfo, hard: bool) {
    let marker = info.marker();
    // Brokers added with `Cluster::add_broker` are not in the state file:
    // their pid files are (`<run dir>/brokers/<name>/broker.pid`); their
    // command lines carry the cluster's marker as a prefix.
    let pids_in = |dir: &str, file: &'static str| {
        fs::read_dir(info.run_dir.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(move |e| fs::read_to_string(e.path().join(file)).ok())
            .filter_map(|t| t.trim().parse::<u32>().ok())
    };
    let extra_pids =
        pids_in(EXTRA_BROKERS_DIR, "broker.pid").chain(pids_in(EXTRA_NAMESRVS_DIR, "namesrv.pid"));
    let pids: Vec<u32> = extra_pids
        .chain([info.broker_pid, info.namesrv_pid])
        .collect();
    for pid in pids {
        if pid != 0 {
            let mut p = JvmProcess::from_pid(pid, marker.clone());
            if hard {
                p.kill();
            } else {
                p.terminate(STOP_GRACE);
            }
        }
    }
    info.remove_file();
    let _ = remove_run_dir(&info.run_dir);
}

/// SIGKILLs every non-detached cluster this process started and removes their
/// run directories (for a Ctrl-C handler; Drop does the same per cluster).
pub fn kill_all_started() {
    let ports: Vec<u16> = STARTED.lock().map(|s| s.clone()).unwrap_or_default();
    for port in ports {
        if let Some(info) = ClusterInfo::find(port) {
            if info.owner_pid == std::process::id() && !info.detached {
                stop_recorded(&info, true);
            }
        }
    }
}

/// The namesrv address of the shared test cluster of `version`, from
/// `RMQ_TEST_NAMESRV_V5` / `RMQ_TEST_NAMESRV_V4` (exported by
/// `cargo xtask test`).
///
/// # Panics
/// When the variable is unset: real-broker tests never skip silently.
///
/// # Errors
/// When the value is not `host:port` or nothing answers there.
pub fn env_cluster(version: BrokerVersion) -> Result<String, HarnessError> {
    let var = version.env_var();
    let addr = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ => panic!(
            "{var} is not set. Real-broker tests need a running {version} cluster: run them \
             through `cargo xtask test`, or start one with `cargo xtask broker start --version {}` \
             and export {var}=127.0.0.1:{}",
            version.major(),
            version.default_namesrv_port()
        ),
    };
    let valid = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !valid {
        return Err(HarnessError::Invalid(format!(
            "{var}={addr} is not host:port"
        )));
    }
    if !probe::namesrv_answers(&addr, Duration::from_secs(5)) {
        return Err(HarnessError::Invalid(format!(
            "{var}={addr}: no RocketMQ namesrv answers there (is the cluster still running? \
             `cargo xtask broker status`)"
        )));
    }
    Ok(addr)
}

// ---------------------------------------------------------------------------
// Run directory, configuration files, JVM command line.

/// `key=value` pairs, in order.
type Props = Vec<(String, String)>;

struct Layout {
    root: PathBuf,
    home: PathBuf,
    conf: PathBuf,
    logs: PathBuf,
    store: PathBuf,
    tmp: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
            home: root.join("home"),
            conf: root.join("conf"),
            logs: root.join("logs"),
            store: root.join("store"),
            tmp: root.join("tmp"),
        }
    }

    fn user_home(&self, role: Role) -> PathBuf {
        self.root.join(format!("{}-home", role.name()))
    }

    fn out_file(&self, role: Role) -> PathBuf {
        self.root.join(format!("{}.out", role.name()))
    }

    fn create(&self) -> Result<(), HarnessError> {
        for dir in [
            self.home.join("conf"),
            self.conf.clone(),
            self.logs.clone(),
            self.store.clone(),
            self.tmp.clone(),
            self.user_home(Role::Namesrv),
            self.user_home(Role::Broker),
        ] {
            fs::create_dir_all(&dir)
                .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
        }
        Ok(())
    }
}

fn create_run_dir(spec: &ClusterSpec) -> Result<PathBuf, HarnessError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "rmq-run-{}-ns{}-{}-{nanos:08x}",
        spec.version.maven_version(),
        spec.namesrv_port,
        std::process::id()
    ));
    fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
    Ok(dir)
}

fn remove_run_dir(dir: &Path) -> Result<(), HarnessError> {
    // Refuse anything that is not one of our run directories.
    let ours = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("rmq-run-"));
    if !ours || !dir.exists() {
        return Ok(());
    }
    fs::remove_dir_all(dir).map_err(|e| HarnessError::io(format!("remove {}", dir.display()), e))
}

/// `127.0.0.1:<port>` of every name server of `spec`, `;`-separated.
fn namesrv_list(spec: &ClusterSpec) -> String {
    std::iter::once(spec.namesrv_port)
        .chain(spec.extra_namesrv_ports.iter().copied())
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The broker properties (harness defaults, then the spec's extras) and the
/// extra JVM system properties (`-D` keys).
fn broker_properties(spec: &ClusterSpec, layout: &Layout) -> (Props, Props) {
    let mut props: Vec<(String, String)> = [
        ("brokerClusterName", "DefaultCluster".to_string()),
        ("brokerName", "broker-a".to_string()),
        ("brokerId", "0".to_string()),
        ("brokerRole", "ASYNC_MASTER".to_string()),
        ("flushDiskType", "ASYNC_FLUSH".to_string()),
        ("listenPort", spec.broker_port.to_string()),
        ("brokerIP1", "127.0.0.1".to_string()),
        ("namesrvAddr", namesrv_list(spec)),
        ("storePathRootDir", layout.store.display().to_string()),
        (
            "storePathCommitLog",
            layout.store.join("commitlog").display().to_string(),
        ),
        // 64 MiB commit-log files (must exceed maxMessageSize, 4 MiB).
        ("mappedFileSizeCommitLog", (64u32 << 20).to_string()),
        // 15,000 consume-queue entries of 20 bytes per file.
        ("mappedFileSizeConsumeQueue", "300000".to_string()),
        ("maxHashSlotNum", "4000".to_string()),
        ("maxIndexNum", "1000".to_string()),
        ("autoCreateTopicEnable", "true".to_string()),
        ("autoCreateSubscriptionGroup", "true".to_string()),
        ("enablePropertyFilter", "true".to_string()),
        ("enableCalcFilterBitMap", "true".to_string()),
        ("osPageCacheBusyTimeOutMills", "5000".to_string()),
        ("waitTimeMillsInSendQueue", "3000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if spec.version == BrokerVersion::V5 {
        props.push(("timerWheelEnable".into(), "true".into()));
    }
    let mut jvm = Vec::new();
    for (k, v) in &spec.extra_broker_config {
        let k = k.trim();
        if let Some(prop) = k.strip_prefix("-D") {
            jvm.push((prop.to_string(), v.clone()));
        } else {
            props.retain(|(existing, _)| existing != k);
            props.push((k.to_string(), v.trim().to_string()));
        }
    }
    (props, jvm)
}

fn write_home_files(spec: &ClusterSpec, layout: &Layout) -> Result<(), HarnessError> {
    for (rel, contents) in &spec.home_files {
        let rel_path = Path::new(rel);
        let escapes = rel_path.is_absolute()
            || rel_path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)));
        if escapes || rel.is_empty() {
            return Err(HarnessError::Invalid(format!(
                "home file {rel:?} must be a relative path inside ROCKETMQ_HOME"
            )));
        }
        let path = layout.home.join(rel_path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
        }
        write_file(&path, contents)?;
    }
    Ok(())
}

fn properties_text(props: &[(String, String)]) -> String {
    let mut text = String::from("# Written by rmq-tests (tests/src/cluster.rs).\n");
    for (k, v) in props {
        // Properties files treat `\` as an escape: write paths with `/` only.
        text.push_str(&format!("{k}={}\n", v.replace('\\', "\\\\")));
    }
    text
}

fn write_logging_config(version: BrokerVersion, layout: &Layout) -> Result<(), HarnessError> {
    for role in [Role::Namesrv, Role::Broker] {
        let file = layout.logs.join(format!("{}.log", role.name()));
        match version {
            // 5.x ships logback shaded under org.apache.rocketmq.logging and
            // honours -Drmq.logback.configurationFile.
            BrokerVersion::V5 => write_file(
                &layout.conf.join(format!("rmq.{}.logback.xml", role.name())),
                &logback_xml("org.apache.rocketmq.logging.", &file),
            )?,
            // 4.9 resets logback to $ROCKETMQ_HOME/conf/logback_<role>.xml.
            BrokerVersion::V4 => write_file(
                &layout
                    .home
                    .join("conf")
                    .join(format!("logback_{}.xml", role.name())),
                &logback_xml("", &file),
            )?,
        }
    }
    if version == BrokerVersion::V4 {
        write_file(
            &layout.home.join("conf").join("logback_tools.xml"),
            &logback_xml("", &layout.logs.join("tools.log")),
        )?;
    }
    Ok(())
}

fn logback_xml(package_prefix: &str, file: &Path) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <configuration>\n\
         \x20 <appender name=\"FILE\" class=\"{p}ch.qos.logback.core.FileAppender\">\n\
         \x20   <file>{file}</file>\n\
         \x20   <append>true</append>\n\
         \x20   <encoder class=\"{p}ch.qos.logback.classic.encoder.PatternLayoutEncoder\">\n\
         \x20     <pattern>%d{{HH:mm:ss.SSS}} %-5level %logger{{0}} [%thread] - %msg%n</pattern>\n\
         \x20   </encoder>\n\
         \x20 </appender>\n\
         \x20 <root level=\"INFO\"><appender-ref ref=\"FILE\"/></root>\n\
         </configuration>\n",
        p = package_prefix,
        file = file.display()
    )
}

fn jvm_args(
    version: BrokerVersion,
    role: Role,
    layout: &Layout,
    classpath: &str,
    extra_props: &[(String, String)],
) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    match role {
        Role::Namesrv => args.extend(["-Xms64m", "-Xmx256m"].map(String::from)),
        // Room for multi-MiB frames late in a long test run: after the
        // whole suite, a 5.5.0 broker once closed every connection a 3 MiB
        // message was sent on (suspected: heap or netty's direct memory
        // exhausted under the former 512m/256m caps; not reproduced).
        Role::Broker => {
            args.extend(["-Xms256m", "-Xmx1g", "-XX:MaxDirectMemorySize=1g"].map(String::from))
        }
    }
    args.extend(
        [
            "-XX:+UseSerialGC",
            // C1 only: startup on 2 cores drops from ~45 s to ~10 s.
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-Djava.net.preferIPv4Stack=true",
            // Java 17+: the store's mmap cleanup reflects into java.nio.
            "--add-opens",
            "java.base/java.nio=ALL-UNNAMED",
            "--add-exports",
            "java.base/jdk.internal.ref=ALL-UNNAMED",
            "--add-exports",
            "java.base/sun.nio.ch=ALL-UNNAMED",
            // Permissive TLS (the default) builds a self-signed certificate at
            // startup, ~9 s on 2 cores; plaintext is all the tests need.
            "-Dtls.server.mode=disabled",
        ]
        .map(String::from),
    );
    args.push(marker_for(&layout.root));
    // RocksDB (5.x) unpacks a 12 MB native library into java.io.tmpdir and
    // only deletes it on a clean exit: keep it inside the run directory.
    args.push(format!("-Djava.io.tmpdir={}", layout.tmp.display()));
    args.push(format!("-Duser.home={}", layout.user_home(role).display()));
    args.push(format!("-Drocketmq.home.dir={}", layout.home.display()));
    if version == BrokerVersion::V5 {
        args.push(format!(
            "-Drmq.logback.configurationFile={}",
            layout
                .conf
                .join(format!("rmq.{}.logback.xml", role.name()))
                .display()
        ));
    }
    for (k, v) in extra_props {
        args.push(format!("-D{k}={v}"));
    }
    args.push("-cp".into());
    args.push(classpath.into());
    args.push(role.main_class().into());
    args.push("-c".into());
    args.push(
        layout
            .conf
            .join(format!("{}.properties", role.name()))
            .display()
            .to_string(),
    );
    args
}

fn spawn_jvm(
    java: &Path,
    args: &[String],
    home: &Path,
    layout: &Layout,
    role: Role,
) -> Result<JvmProcess, HarnessError> {
    let mut cmd = Command::new(java);
    cmd.args(args)
        .env("ROCKETMQ_HOME", home)
        .env_remove("NAMESRV_ADDR")
        .env_remove("JAVA_TOOL_OPTIONS")
        .env_remove("_JAVA_OPTIONS")
        .current_dir(&layout.root);
    let process = JvmProcess::spawn(cmd, &layout.out_file(role), marker_for(&layout.root))?;
    write_file(
        &layout.root.join(format!("{}.pid", role.name())),
        &format!("{}\n", process.pid()),
    )?;
    Ok(process)
}

/// `$JAVA_HOME/bin/java` when `JAVA_HOME` is set, else `java` from `PATH`.
pub fn java_binary() -> PathBuf {
    match std::env::var_os("JAVA_HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join("bin").join("java"),
        None => PathBuf::from("java"),
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), HarnessError> {
    fs::write(path, text).map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
}

// ---------------------------------------------------------------------------
// Waiting, ports, logs.

fn start_timeout() -> Duration {
    std::env::var("RMQ_HARNESS_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DEFAULT_START_TIMEOUT, Duration::from_secs)
}

/// Polls `ready` until it holds (Ok), the process exits (Err(Some(status)))
/// or the deadline passes (Err(None)).
fn wait_until(
    process: &mut JvmProcess,
    deadline: Instant,
    mut ready: impl FnMut() -> bool,
) -> Result<(), Option<String>> {
    loop {
        if let Some(status) = process.exit_status() {
            return Err(Some(status));
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(None);
        }
        thread::sleep(Duration::from_millis(250));
    }
}

fn check_no_cluster_on(namesrv_port: u16) -> Result<(), HarnessError> {
    let Some(info) = ClusterInfo::find(namesrv_port) else {
        return Ok(());
    };
    let live = info.namesrv_alive() || info.broker_alive();
    let owner_gone = !info.detached && !info.owner_alive();
    if live && !owner_gone {
        return Err(HarnessError::AlreadyRunning {
            namesrv_port,
            run_dir: info.run_dir,
        });
    }
    // Stale (dead processes, or left over by a test process that died):
    // clean it up.
    stop_recorded(&info, true);
    Ok(())
}

fn check_ports_free(spec: &ClusterSpec) -> Result<(), HarnessError> {
    let b = spec.broker_port;
    if b < 3 || b == u16::MAX {
        return Err(HarnessError::Invalid(format!(
            "broker port {b} leaves no room for port-2 and port+1"
        )));
    }
    for port in [spec.namesrv_port, b - 2, b, b + 1] {
        if !port_free(port) {
            let holder = state::list_clusters()
                .into_iter()
                .find(|c| {
                    c.namesrv_port == port
                        || (c.broker_port.saturating_sub(2)..=c.broker_port.saturating_add(1))
                            .contains(&port)
                })
                .map(|c| format!(" by the harness cluster in {}", c.run_dir.display()))
                .unwrap_or_default();
            return Err(HarnessError::PortInUse { port, holder });
        }
    }
    Ok(())
}

/// Whether `addr` accepts a TCP connection within `timeout`.
fn tcp_accepts(addr: &str, timeout: Duration) -> bool {
    addr.parse()
        .is_ok_and(|a| std::net::TcpStream::connect_timeout(&a, timeout).is_ok())
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

fn pick_free_ports() -> Result<(u16, u16), HarnessError> {
    const LOW: u32 = 12000;
    const SPAN: u32 = 20000;
    let seed = (std::process::id() % 400) * 50;
    for _ in 0..2000 {
        let step = u32::from(NEXT_PORT.fetch_add(5, Ordering::Relaxed));
        let base = LOW + (seed + step) % SPAN;
        let (ns, broker) = (base, base + 3);
        let all_free = [ns, broker - 2, broker, broker + 1]
            .iter()
            .all(|p| u16::try_from(*p).is_ok_and(port_free));
        if all_free {
            // Both fit u16: LOW + SPAN + 4 < 65536.
            return Ok((ns as u16, broker as u16));
        }
    }
    Err(HarnessError::Invalid(
        "found no free port block in 12000..32000".into(),
    ))
}

fn log_tail(run_dir: &Path, role: Role, n: usize) -> String {
    let layout = Layout::new(run_dir);
    let mut out = String::new();
    for file in [
        layout.logs.join(format!("{}.log", role.name())),
        layout.out_file(role),
    ] {
        let text = fs::read_to_string(&file).unwrap_or_default();
        out.push_str(&format!(
            "----- last {n} lines of {} -----\n{}\n",
            file.display(),
            tail_lines(&text, n)
        ));
    }
    out
}

/// RSS of the cluster's JVMs in KiB (namesrv, broker), when running.
pub fn rss_kib(cluster: &Cluster) -> (Option<u64>, Option<u64>) {
    let (ns, broker) = cluster.pids();
    (
        ns.and_then(process::rss_kib),
        broker.and_then(process::rss_kib),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::new(Path::new("/tmp/rmq-run-test"))
    }

    #[test]
    fn extra_broker_config_overrides_the_defaults() {
        let spec = ClusterSpec::new(BrokerVersion::V5).broker_config("brokerName", "broker-z");
        let (props, _) = broker_properties(&spec, &layout());
        let names: Vec<_> = props.iter().filter(|(k, _)| k == "brokerName").collect();
        assert_eq!(names, [&("brokerName".to_string(), "broker-z".to_string())]);
    }

    #[test]
    fn dash_d_keys_become_jvm_system_properties() {
        let spec =
            ClusterSpec::new(BrokerVersion::V5).broker_config("-Dtls.server.mode", "permissive");
        let (props, jvm) = broker_properties(&spec, &layout());
        assert!(props.iter().all(|(k, _)| !k.starts_with("-D")));
        let args = jvm_args(BrokerVersion::V5, Role::Broker, &layout(), "cp", &jvm);
        let default = args.iter().position(|a| a == "-Dtls.server.mode=disabled");
        let extra = args
            .iter()
            .position(|a| a == "-Dtls.server.mode=permissive");
        assert!(
            default < extra,
            "the spec's property must come last and win"
        );
    }

    #[test]
    fn the_broker_advertises_loopback_and_the_spec_ports() {
        let spec = ClusterSpec {
            namesrv_port: 1234,
            broker_port: 2345,
            ..ClusterSpec::new(BrokerVersion::V4)
        };
        let (props, _) = broker_properties(&spec, &layout());
        let text = properties_text(&props);
        assert!(text.contains("\nbrokerIP1=127.0.0.1\n"));
        assert!(text.contains("\nlistenPort=2345\n"));
        assert!(text.contains("\nnamesrvAddr=127.0.0.1:1234\n"));
        assert!(!text.contains("timerWheelEnable"), "4.9 has no timer wheel");
    }

    #[test]
    fn only_4_9_gets_logback_files_in_rocketmq_home() {
        let args = jvm_args(BrokerVersion::V4, Role::Namesrv, &layout(), "cp", &[]);
        assert!(args
            .iter()
            .all(|a| !a.starts_with("-Drmq.logback.configurationFile")));
        let args = jvm_args(BrokerVersion::V5, Role::Namesrv, &layout(), "cp", &[]);
        assert!(args
            .iter()
            .any(|a| a.ends_with("/conf/rmq.namesrv.logback.xml")));
    }

    #[test]
    fn home_files_must_stay_inside_rocketmq_home() {
        let root = std::env::temp_dir().join(format!("rmq-run-homefile-{}", std::process::id()));
        let layout = Layout::new(&root);
        for bad in ["../x.yml", "/etc/x.yml", ""] {
            let spec = ClusterSpec::new(BrokerVersion::V4).home_file(bad, "x");
            assert!(write_home_files(&spec, &layout).is_err(), "{bad:?}");
        }
        let spec = ClusterSpec::new(BrokerVersion::V4).home_file("conf/plain_acl.yml", "a: 1\n");
        write_home_files(&spec, &layout).unwrap();
        let text = fs::read_to_string(root.join("home/conf/plain_acl.yml")).unwrap();
        assert_eq!(text, "a: 1\n");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn acl_or_authentication_switches_readiness_to_any_answer() {
        assert!(!ClusterSpec::new(BrokerVersion::V4).auth_enabled());
        assert!(ClusterSpec::new(BrokerVersion::V4)
            .broker_config("aclEnable", "true")
            .auth_enabled());
        assert!(ClusterSpec::new(BrokerVersion::V5)
            .broker_config("authenticationEnabled", "true")
            .auth_enabled());
    }

    #[test]
    fn free_ports_leave_room_for_the_fast_and_ha_ports() {
        let spec = ClusterSpec::with_free_ports(BrokerVersion::V5).unwrap();
        assert!(spec.broker_port >= spec.namesrv_port + 3);
        assert!(check_ports_free(&spec).is_ok());
    }

    #[test]
    #[should_panic(expected = "RMQ_TEST_NAMESRV_V4 is not set")]
    fn env_cluster_panics_when_the_variable_is_unset() {
        if std::env::var_os("RMQ_TEST_NAMESRV_V4").is_some() {
            panic!("RMQ_TEST_NAMESRV_V4 is not set (simulated: it is set in this run)");
        }
        let _ = env_cluster(BrokerVersion::V4);
    }
}
