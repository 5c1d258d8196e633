//! The handle shared by every role: the engine's driver, once started.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_core::engine::{ClientConfig, Engine, SendReceipt};
use rmq_core::producer::SendRequest;
use rmq_core::protocol::RemotingCommand;

use crate::clock::MonotonicClock;
use crate::driver::Driver;
use crate::Error;

/// A started or not-yet-started client. Clones share one engine; when the
/// last clone is dropped the client shuts down (unregisters, closes sockets).
#[derive(Clone)]
pub(crate) struct ClientHandle {
    inner: Arc<Inner>,
}

struct Inner {
    slot: Mutex<Slot>,
}

type MakeEngine = Box<dyn FnOnce(rmq_core::time::Instant) -> Engine + Send>;

enum Slot {
    /// Built, not started: the engine waits here.
    Idle(MakeEngine),
    Running(Arc<Driver>),
    Stopped,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(Slot::Running(driver)) = self
            .slot
            .get_mut()
            .map(|s| std::mem::replace(s, Slot::Stopped))
        {
            // Nobody can wait for it any more; the tasks finish the shutdown.
            drop(driver.shutdown());
        }
    }
}

impl ClientHandle {
    pub(crate) fn new(
        make: impl FnOnce(rmq_core::time::Instant) -> Engine + Send + 'static,
    ) -> Self {
        ClientHandle {
            inner: Arc::new(Inner {
                slot: Mutex::new(Slot::Idle(Box::new(make))),
            }),
        }
    }

    /// Starts the engine on the current tokio runtime (idempotent).
    pub(crate) fn start(&self) -> Result<(), Error> {
        let mut slot = self.inner.slot.lock().map_err(|_| Error::ShutDown)?;
        match std::mem::replace(&mut *slot, Slot::Stopped) {
            Slot::Idle(make) => {
                let clock = MonotonicClock::new();
                let engine = make(clock.now());
                *slot = Slot::Running(Driver::start(engine, clock));
                Ok(())
            }
            running @ Slot::Running(_) => {
                *slot = running;
                Ok(())
            }
            Slot::Stopped => Err(Error::ShutDown),
        }
    }

    fn driver(&self) -> Result<Arc<Driver>, Error> {
        match &*self.inner.slot.lock().map_err(|_| Error::ShutDown)? {
            Slot::Running(d) => Ok(Arc::clone(d)),
            Slot::Idle(_) => Err(Error::NotStarted),
            Slot::Stopped => Err(Error::ShutDown),
        }
    }

    /// Runs one send to completion. The engine settles every send by its
    /// deadline (tested in `engine_scenarios`), so no host timer is armed.
    pub(crate) async fn send(&self, request: SendRequest) -> Result<SendReceipt, Error> {
        let rx = self.driver()?.send(request);
        match rx.await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Err(Error::ShutDown),
        }
    }

    /// A raw request to `addr` (or the current name server).
    pub(crate) async fn request(
        &self,
        addr: Option<String>,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, Error> {
        let rx = self.driver()?.request(addr.as_deref(), command, timeout);
        match tokio::time::timeout(timeout + Duration::from_secs(2), rx).await {
            Ok(Ok(result)) => result.map_err(Error::from),
            Ok(Err(_)) => Err(Error::ShutDown),
            Err(_) => Err(Error::Timeout { broker: "-".into() }),
        }
    }

    /// Unregisters, closes every connection, and stops the driver.
    pub(crate) async fn shutdown(&self) -> Result<(), Error> {
        let driver = {
            let mut slot = self.inner.slot.lock().map_err(|_| Error::ShutDown)?;
            match std::mem::replace(&mut *slot, Slot::Stopped) {
                Slot::Running(d) => d,
                _ => return Ok(()),
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(15), driver.shutdown()).await;
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
