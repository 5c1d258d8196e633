//! The handle every user-facing type shares: a client that is built, then
//! started on the current tokio runtime, then shut down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq_core::client::{Client, HostPolicy, Outcome};
use rmq_core::time::Instant;
use tokio::sync::oneshot;

use crate::clock::MonotonicClock;
use crate::driver::{DeliverySink, Driver, Reply};
use crate::tls::TlsConnector;
use crate::Error;

/// How long `shutdown()` waits for the core's bounded shutdown.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

type MakeClient = Box<dyn FnOnce(Instant) -> Client<Reply> + Send>;

enum Slot {
    /// Built, not started: the client is made at start.
    Idle(MakeClient, Option<DeliverySink>),
    Running(Arc<Driver>),
    Stopped,
}

/// A started or not-yet-started client. Clones share one client; when the
/// last clone is dropped it shuts down (unregisters, closes sockets).
#[derive(Clone)]
pub(crate) struct ClientHandle {
    inner: Arc<Inner>,
}

struct Inner {
    slot: Mutex<Slot>,
    /// TLS for every connection, when set.
    tls: Option<Arc<TlsConnector>>,
}

impl Inner {
    fn begin_shutdown(&self) -> Option<oneshot::Receiver<Outcome>> {
        let mut slot = self.slot.lock().ok()?;
        match std::mem::replace(&mut *slot, Slot::Stopped) {
            Slot::Running(d) => Some(d.call(|client, now, reply| client.shutdown(now, reply))),
            _ => None,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Nobody can wait for it any more; the tasks finish the shutdown.
        drop(self.begin_shutdown());
    }
}

impl ClientHandle {
    /// A client made at start by `make`, opening every connection with
    /// `tls` when set.
    pub(crate) fn with_tls(
        tls: Option<Arc<TlsConnector>>,
        make: impl FnOnce(Instant) -> Client<Reply> + Send + 'static,
    ) -> Self {
        let slot = Mutex::new(Slot::Idle(Box::new(make), None));
        ClientHandle {
            inner: Arc::new(Inner { slot, tls }),
        }
    }

    /// Starts the client on the current tokio runtime (idempotent).
    pub(crate) fn start(&self) -> Result<(), Error> {
        let mut slot = self.inner.slot.lock().map_err(|_| Error::ShutDown)?;
        match std::mem::replace(&mut *slot, Slot::Stopped) {
            Slot::Idle(make, sink) => {
                let clock = MonotonicClock::new();
                let tls = self.inner.tls.clone();
                let policy = HostPolicy::default();
                let driver = Driver::start(make(clock.now()), sink, clock, policy, tls);
                *slot = Slot::Running(driver);
                Ok(())
            }
            running @ Slot::Running(_) => {
                *slot = running;
                Ok(())
            }
            Slot::Stopped => Err(Error::ShutDown),
        }
    }

    /// Sends consumers' deliveries to `sink` (before `start`).
    pub(crate) fn set_delivery_sink(&self, sink: DeliverySink) -> Result<(), Error> {
        match &mut *self.inner.slot.lock().map_err(|_| Error::ShutDown)? {
            Slot::Idle(_, slot) => {
                *slot = Some(sink);
                Ok(())
            }
            _ => Err(Error::Config("the client already started".into())),
        }
    }

    fn driver(&self) -> Result<Arc<Driver>, Error> {
        match &*self.inner.slot.lock().map_err(|_| Error::ShutDown)? {
            Slot::Running(d) => Ok(Arc::clone(d)),
            Slot::Idle(..) => Err(Error::NotStarted),
            Slot::Stopped => Err(Error::ShutDown),
        }
    }

    /// Runs `command` on the running client and waits for its caller's outcome.
    pub(crate) async fn call(
        &self,
        command: impl FnOnce(&mut Client<Reply>, Instant, Reply),
    ) -> Result<Outcome, Error> {
        let rx = self.driver()?.call(command);
        rx.await.map_err(|_| Error::ShutDown)
    }

    /// Runs `command` on the running client (no caller waits).
    pub(crate) fn run(
        &self,
        command: impl FnOnce(&mut Client<Reply>, Instant),
    ) -> Result<(), Error> {
        self.driver()?.run(command);
        Ok(())
    }

    /// Begins the shutdown without waiting for it (a drop).
    pub(crate) fn begin_shutdown(&self) {
        drop(self.inner.begin_shutdown());
    }

    /// Unregisters, closes every connection, and stops the driver.
    pub(crate) async fn shutdown(&self) -> Result<(), Error> {
        if let Some(done) = self.inner.begin_shutdown() {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, done).await;
        }
        Ok(())
    }
}
