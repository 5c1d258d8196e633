//! The harness error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while resolving, starting, probing or stopping
/// a RocketMQ cluster. Every variant's `Display` says what to do next.
#[derive(Debug)]
pub enum HarnessError {
    /// An I/O operation failed.
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A required external tool (`java`, `mvn`) is missing or unusable.
    MissingTool {
        /// The tool's name.
        tool: String,
        /// How to install it.
        hint: String,
    },
    /// Maven could not resolve a classpath.
    Maven {
        /// Which artifact (`rocketmq-broker 5.5.0`).
        artifact: String,
        /// The tail of Maven's output.
        output: String,
    },
    /// A TCP port the cluster needs is already taken.
    PortInUse {
        /// The port.
        port: u16,
        /// Who uses it, when known.
        holder: String,
    },
    /// A harness cluster already runs on this namesrv port.
    AlreadyRunning {
        /// The namesrv port.
        namesrv_port: u16,
        /// Its run directory.
        run_dir: PathBuf,
    },
    /// No harness cluster runs on this namesrv port.
    NotRunning {
        /// The namesrv port.
        namesrv_port: u16,
    },
    /// A process did not become ready in time.
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the harness waited.
        waited: Duration,
        /// The last lines of the relevant logs.
        logs: String,
    },
    /// A process exited while the harness waited for it.
    Exited {
        /// Which process.
        what: String,
        /// Its exit status.
        status: String,
        /// The last lines of the relevant logs.
        logs: String,
    },
    /// The cluster is in a state that does not allow the operation.
    InvalidState(String),
    /// A value (environment variable, argument) is malformed.
    Invalid(String),
}

impl HarnessError {
    /// Builds an [`HarnessError::Io`] with a context message.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Io { context, source } => write!(f, "{context}: {source}"),
            HarnessError::MissingTool { tool, hint } => {
                write!(f, "`{tool}` is not available: {hint}")
            }
            HarnessError::Maven { artifact, output } => write!(
                f,
                "Maven could not resolve the classpath of {artifact}; last output:\n{output}"
            ),
            HarnessError::PortInUse { port, holder } => write!(
                f,
                "port {port} is already in use{holder}; stop whatever holds it \
                 (`cargo xtask broker status` lists harness clusters) or choose other ports"
            ),
            HarnessError::AlreadyRunning {
                namesrv_port,
                run_dir,
            } => write!(
                f,
                "a harness cluster already runs with namesrv port {namesrv_port} (run dir {}); \
                 stop it with `cargo xtask broker stop --namesrv-port {namesrv_port}`",
                run_dir.display()
            ),
            HarnessError::NotRunning { namesrv_port } => {
                write!(
                    f,
                    "no harness cluster runs with namesrv port {namesrv_port}"
                )
            }
            HarnessError::Timeout { what, waited, logs } => write!(
                f,
                "{what} was not ready after {} s\n{logs}",
                waited.as_secs()
            ),
            HarnessError::Exited { what, status, logs } => {
                write!(f, "{what} exited during startup ({status})\n{logs}")
            }
            HarnessError::InvalidState(msg) | HarnessError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HarnessError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
