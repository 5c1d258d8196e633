//! The handle shared by every role: a channel to the driver task.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_core::engine::{ClientConfig, Engine};
use rmq_core::protocol::RemotingCommand;
use tokio::sync::{mpsc, oneshot};

use crate::clock::MonotonicClock;
use crate::driver::{self, Command};
use crate::Error;

/// A started or not-yet-started connection to one engine.
#[derive(Clone)]
pub(crate) struct ClientHandle {
    inner: Arc<Mutex<Slot>>,
}

enum Slot {
    /// Built, not started: the engine waits here.
    Idle(Box<dyn FnOnce(rmq_core::time::Instant) -> Engine + Send>),
    Running(mpsc::UnboundedSender<Command>),
    Stopped,
}

impl ClientHandle {
    pub(crate) fn new(
        make: impl FnOnce(rmq_core::time::Instant) -> Engine + Send + 'static,
    ) -> Self {
        ClientHandle {
            inner: Arc::new(Mutex::new(Slot::Idle(Box::new(make)))),
        }
    }

    /// Spawns the driver (idempotent). Must run inside a tokio runtime.
    pub(crate) fn start(&self) -> Result<(), Error> {
        let mut slot = self.inner.lock().map_err(|_| Error::ShutDown)?;
        match std::mem::replace(&mut *slot, Slot::Stopped) {
            Slot::Idle(make) => {
                let clock = MonotonicClock::new();
                let engine = make(clock.now());
                *slot = Slot::Running(driver::spawn(engine, clock));
                Ok(())
            }
            running @ Slot::Running(_) => {
                *slot = running;
                Ok(())
            }
            Slot::Stopped => Err(Error::ShutDown),
        }
    }

    pub(crate) fn sender(&self) -> Result<mpsc::UnboundedSender<Command>, Error> {
        match &*self.inner.lock().map_err(|_| Error::ShutDown)? {
            Slot::Running(tx) => Ok(tx.clone()),
            Slot::Idle(_) => Err(Error::NotStarted),
            Slot::Stopped => Err(Error::ShutDown),
        }
    }

    /// A raw request to `addr` (or the current name server).
    pub(crate) async fn request(
        &self,
        addr: Option<String>,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, Error> {
        let (reply, rx) = oneshot::channel();
        self.sender()?
            .send(Command::Request {
                addr,
                command,
                timeout,
                reply,
            })
            .map_err(|_| Error::ShutDown)?;
        // The engine enforces the deadline; the grace period only guards
        // against a driver that died.
        match tokio::time::timeout(timeout + Duration::from_secs(2), rx).await {
            Ok(Ok(result)) => result.map_err(Error::from),
            Ok(Err(_)) => Err(Error::ShutDown),
            Err(_) => Err(Error::Timeout { broker: "-".into() }),
        }
    }

    /// Unregisters, closes every connection, and stops the driver.
    pub(crate) async fn shutdown(&self) -> Result<(), Error> {
        let tx = {
            let mut slot = self.inner.lock().map_err(|_| Error::ShutDown)?;
            match std::mem::replace(&mut *slot, Slot::Stopped) {
                Slot::Running(tx) => tx,
                _ => return Ok(()),
            }
        };
        let (reply, rx) = oneshot::channel();
        if tx.send(Command::Shutdown { reply }).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(15), rx).await;
        }
        Ok(())
    }
}

/// Fills host-derived fields of a client configuration.
pub(crate) fn host_defaults(config: &mut ClientConfig, instance: &str) {
    let ip = local_ip();
    config.client_ip = ip;
    config.pid = std::process::id();
    config.client_id = format!("{ip}@{instance}");
    config.seed = seed();
}

/// The client address in ids. Java picks the first non-loopback interface;
/// std cannot list interfaces, and the id's uniqueness comes from the
/// instance name, so rmq uses loopback unless told otherwise.
fn local_ip() -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

/// The default instance name: `pid#nanos`, unique per process like Java's.
pub(crate) fn default_instance() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}#{}", std::process::id(), nanos)
}
