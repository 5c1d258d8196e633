//! [`TransactionProducer`]: transactional messages (a half message, the
//! user's local step, then commit or rollback), with the broker's checks
//! answered by the user's [`TransactionListener`].
//!
//! The protocol lives in the core (`rmq_core::transaction` and the producer
//! role); this host runs the listener: `execute_local` on the caller's task,
//! `check_local` on tokio's blocking pool, one task per check, so a slow
//! checker blocks nothing else, and feeds each answer back to the core.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use rmq_core::message::property;
use rmq_core::transaction::{
    mark_half, resolution_without_local_step, CheckSink, EndTransaction, EndTransactionError,
    TransactionCheck,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Error, Message, MessageExt, Producer, ProducerBuilder, SendResult};

/// How a transaction ended locally: commit (the message is delivered),
/// rollback (it never is), or unknown (the broker checks back later).
pub use rmq_core::transaction::TransactionResolution as TransactionState;

/// The user's side of a transaction.
///
/// Both methods are plain (blocking) functions. A panic counts as
/// [`TransactionState::Unknown`]: the broker checks back.
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local step of a transaction whose half message the broker
    /// stored (SEND_OK), on the task that called
    /// [`TransactionProducer::send_in_transaction`]. `message.unique_key()`
    /// is the transaction's id; [`TransactionListener::check_local`] sees
    /// the same id.
    fn execute_local(&self, message: &Message) -> TransactionState;

    /// Tells the broker how the transaction of `message` (a half message it
    /// still holds) ended: it asks when the local step answered
    /// [`TransactionState::Unknown`], or when the producer never answered
    /// (it died). Runs on tokio's blocking pool; any instance of the
    /// producer group may be asked.
    fn check_local(&self, message: &MessageExt) -> TransactionState;
}

/// What [`TransactionProducer::send_in_transaction`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSendResult {
    /// The broker's acknowledgement of the half message.
    pub send: SendResult,
    /// How the local step ended (what END_TRANSACTION told the broker).
    pub state: TransactionState,
}

/// Sends transactional messages. Build it with
/// [`TransactionProducer::builder`] (every [`ProducerBuilder`] setting
/// applies) and [`ProducerBuilder::build_transactional`]. Cheap to clone.
///
/// ```no_run
/// use rmq::{Message, MessageExt, TransactionListener, TransactionProducer, TransactionState};
///
/// struct Orders;
/// impl TransactionListener for Orders {
///     fn execute_local(&self, message: &Message) -> TransactionState {
///         // Write the order to the local database, keyed by message.unique_key().
///         TransactionState::Commit
///     }
///     fn check_local(&self, message: &MessageExt) -> TransactionState {
///         // Look the order up by message.unique_key().
///         TransactionState::Commit
///     }
/// }
///
/// # async fn demo() -> Result<(), rmq::Error> {
/// let producer = TransactionProducer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("orders_tx")
///     .build_transactional(Orders)?;
/// producer.start().await?;
/// let result = producer.send_in_transaction(Message::new("orders", "paid")).await?;
/// println!("{} {:?}", result.send.msg_id, result.state);
/// producer.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TransactionProducer {
    producer: Producer,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TransactionProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("group", &self.shared.group)
            .finish_non_exhaustive()
    }
}

struct Shared {
    group: String,
    listener: Arc<dyn TransactionListener>,
    /// The checks the core takes, until the checker task starts.
    checks: Mutex<Option<mpsc::UnboundedReceiver<TransactionCheck>>>,
    checker: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn stop_checker(&self) {
        if let Some(task) = self.checker.lock().ok().and_then(|mut c| c.take()) {
            task.abort();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The checker holds a producer clone: stopping it lets the client
        // shut down once the last user handle is gone.
        self.stop_checker();
    }
}

/// The core's check sink: a queue to the checker task.
struct ChannelSink(mpsc::UnboundedSender<TransactionCheck>);

impl CheckSink for ChannelSink {
    fn check(&mut self, check: TransactionCheck) {
        let _ = self.0.send(check);
    }
}

impl ProducerBuilder {
    /// Builds a [`TransactionProducer`] whose transactions `listener`
    /// resolves (not yet started).
    pub fn build_transactional(
        self,
        listener: impl TransactionListener,
    ) -> Result<TransactionProducer, Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let group = self.group_name().to_string();
        let producer = self.build_with(move |client, id, now| {
            client.with_producer(id, now, |p, _| {
                p.enable_transactions(Box::new(ChannelSink(tx)));
            });
        })?;
        let shared = Shared {
            group,
            listener: Arc::new(listener),
            checks: Mutex::new(Some(rx)),
            checker: Mutex::new(None),
        };
        Ok(TransactionProducer {
            producer,
            shared: Arc::new(shared),
        })
    }
}

impl TransactionProducer {
    /// A builder with Java's defaults; finish it with
    /// [`ProducerBuilder::build_transactional`].
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    /// Starts the client and the checker. Connections open lazily.
    pub async fn start(&self) -> Result<(), Error> {
        self.producer.start().await?;
        let rx = self.shared.checks.lock().ok().and_then(|mut c| c.take());
        if let Some(rx) = rx {
            let task = tokio::spawn(run_checker(
                self.producer.clone(),
                Arc::clone(&self.shared.listener),
                self.shared.group.clone(),
                rx,
            ));
            if let Ok(mut checker) = self.shared.checker.lock() {
                *checker = Some(task);
            }
        }
        Ok(())
    }

    /// Sends `message` as the half message of a transaction, runs the
    /// listener's `execute_local` once the broker stored it (SEND_OK; the
    /// other stored statuses roll back without running it), and tells the
    /// broker the outcome. The half message is sent like any synchronous
    /// send, retries included; a delay level is cleared.
    ///
    /// An END_TRANSACTION lost on the way is not an error: the broker
    /// checks back, and `check_local` answers.
    pub async fn send_in_transaction(
        &self,
        mut message: Message,
    ) -> Result<TransactionSendResult, Error> {
        let group = &self.shared.group;
        mark_half(&mut message, group);
        let send = self.producer.send(message.clone()).await?;
        message.set_unique_key(send.msg_id.clone());
        if let Some(id) = &send.transaction_id {
            message
                .properties
                .insert(property::TRANSACTION_ID, id.clone());
        }
        let (state, remark) = match resolution_without_local_step(send.status) {
            Some(state) => (state, None),
            None => {
                let listener = &self.shared.listener;
                match catch_unwind(AssertUnwindSafe(|| listener.execute_local(&message))) {
                    Ok(state) => (state, None),
                    Err(_) => (
                        TransactionState::Unknown,
                        Some("executeLocalTransactionBranch panicked".to_string()),
                    ),
                }
            }
        };
        let ended = EndTransaction::after_send(group, &message.topic, &send, state, remark)
            .map_err(end_error)
            .and_then(|end| end_transaction(&self.producer, end));
        if let Err(e) = ended {
            tracing::warn!(msg_id = %send.msg_id, error = %e, "END_TRANSACTION not sent; the broker will check back");
        }
        Ok(TransactionSendResult { send, state })
    }

    /// Stops the checker, unregisters from every broker and closes every
    /// connection.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.shared.stop_checker();
        self.producer.shutdown().await
    }
}

/// Answers each check on the blocking pool, one task per check.
async fn run_checker(
    producer: Producer,
    listener: Arc<dyn TransactionListener>,
    group: String,
    mut checks: mpsc::UnboundedReceiver<TransactionCheck>,
) {
    while let Some(check) = checks.recv().await {
        let producer = producer.clone();
        let listener = Arc::clone(&listener);
        let group = group.clone();
        tokio::spawn(async move {
            let checked = tokio::task::spawn_blocking(move || {
                let state = catch_unwind(AssertUnwindSafe(|| listener.check_local(&check.message)));
                (check, state)
            })
            .await;
            let Ok((check, state)) = checked else {
                return;
            };
            let (state, remark) = match state {
                Ok(state) => (state, None),
                Err(_) => (
                    TransactionState::Unknown,
                    Some("checkLocalTransactionState panicked".to_string()),
                ),
            };
            let end = EndTransaction::after_check(&group, &check, state, remark);
            if let Err(e) = end_transaction(&producer, end) {
                tracing::warn!(error = %e, "END_TRANSACTION after a check not sent");
            }
        });
    }
}

/// Hands `end` to the client's producer, which writes it (oneway).
fn end_transaction(producer: &Producer, end: EndTransaction) -> Result<(), Error> {
    let mut result = Err(Error::ShutDown);
    producer.handle.run(|client, now| {
        let id = client.producers().next();
        if let Some(id) = id {
            if let Some(r) = client.with_producer(id, now, |p, ctx| p.end_transaction(ctx, end)) {
                result = r.map_err(end_error);
            }
        }
    })?;
    result
}

fn end_error(e: EndTransactionError) -> Error {
    match e {
        EndTransactionError::NotRunning => Error::ShutDown,
        EndTransactionError::NoBrokerAddress(broker) => Error::NoRoute {
            topic: String::from("-"),
            reason: format!("no master address for broker {broker}"),
        },
        other => Error::Protocol(other.to_string()),
    }
}
