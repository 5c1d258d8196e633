//! Real-broker test harness: runs an actual Apache RocketMQ namesrv + broker
//! (from Maven Central jars, pinned in `tests/maven/`) on 127.0.0.1.
//!
//! - [`Cluster::start`] starts a private cluster (for tests that kill or
//!   restart the broker); dropping it kills the JVMs and removes its files.
//! - [`env_cluster`] returns the namesrv address of the shared cluster that
//!   `cargo xtask test` starts and exports as `RMQ_TEST_NAMESRV_V5` /
//!   `RMQ_TEST_NAMESRV_V4`; it panics (never skips) when unset.
//! - `cargo xtask broker start|stop|status` uses the same code, with
//!   [`Cluster::detach`] and [`stop_detached`].
//!
//! ```no_run
//! use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
//! let mut cluster = Cluster::start(ClusterSpec::with_free_ports(BrokerVersion::V5)?)?;
//! println!("namesrv at {}", cluster.namesrv_addr());
//! cluster.kill_broker()?;
//! cluster.start_broker()?;
//! cluster.stop()?;
//! # Ok::<(), rmq_tests::HarnessError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cluster;
mod error;
pub mod maven;
pub mod probe;
mod process;
pub mod raw;
mod state;
mod version;

pub use cluster::{
    env_cluster, java_binary, kill_all_started, rss_kib, stop_detached, Cluster, ClusterSpec,
    StartupTimes, DEFAULT_START_TIMEOUT, STOP_GRACE,
};
pub use error::HarnessError;
pub use process::rss_kib as pid_rss_kib;
pub use state::{list_clusters, state_dir, state_file, ClusterInfo};
pub use version::{BrokerVersion, Role};
