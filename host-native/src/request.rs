//! Request-reply on [`Producer`]: [`Producer::request`] sends a message and
//! waits for the reply a replier sends with [`Producer::send_reply`] (Java
//! `DefaultMQProducer.request` and `MessageUtil.createReplyMessage`). The
//! matching is the core's (`rmq_core::producer::Producer::request`).

use std::time::Duration;

use bytes::Bytes;
use rmq_core::producer::{create_reply, ReplyWaiter, RequestReplyError};
use tokio::sync::oneshot;

use crate::clock::wall_clock;
use crate::{Error, Message, MessageExt, Producer, SendResult};

/// The core's reply waiter: a oneshot to the awaiting task.
struct OneshotWaiter(oneshot::Sender<Result<MessageExt, RequestReplyError>>);

impl ReplyWaiter for OneshotWaiter {
    fn complete(self: Box<Self>, result: Result<MessageExt, RequestReplyError>) {
        let _ = self.0.send(result);
    }
}

impl Producer {
    /// Sends `message` as a request and waits for its reply, at most
    /// `timeout` in all (the send included). The message gets the
    /// `CORRELATION_ID`, `REPLY_TO_CLIENT` and `TTL` properties; the broker
    /// pushes the reply to this client.
    ///
    /// ```no_run
    /// # async fn demo(producer: rmq::Producer) -> Result<(), rmq::Error> {
    /// let reply = producer
    ///     .request(rmq::Message::new("prices", "AAPL?"), std::time::Duration::from_secs(3))
    ///     .await?;
    /// println!("{:?}", reply.body());
    /// # Ok(()) }
    /// ```
    pub async fn request(&self, message: Message, timeout: Duration) -> Result<MessageExt, Error> {
        let (tx, rx) = oneshot::channel();
        let waiter = Box::new(OneshotWaiter(tx));
        let clock = wall_clock();
        self.handle.run(move |client, now| {
            // Without a producer the waiter is dropped: the await below
            // reports the shutdown.
            let id = client.producers().next();
            if let Some(id) = id {
                client.with_producer(id, now, |p, ctx| {
                    p.request(ctx, message, timeout, clock, waiter)
                });
            }
        })?;
        match rx.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(RequestReplyError::Send(e))) => Err(e.into()),
            Ok(Err(RequestReplyError::Timeout)) => Err(Error::Timeout {
                broker: String::from("-"),
            }),
            Ok(Err(RequestReplyError::NotRunning)) | Err(_) => Err(Error::ShutDown),
        }
    }

    /// Replies to `request` (a message received by a consumer) with `body`:
    /// the reply goes to `<cluster>_REPLY_TOPIC` with the request's
    /// correlation properties, sent with SEND_REPLY_MESSAGE_V2; the broker
    /// pushes it to the requesting client. Fails with [`Error::Protocol`]
    /// when `request` is not a request message.
    pub async fn send_reply(
        &self,
        request: &MessageExt,
        body: impl Into<Bytes>,
    ) -> Result<SendResult, Error> {
        let reply =
            create_reply(&request.message, body).map_err(|e| Error::Protocol(e.to_string()))?;
        self.send(reply).await
    }
}
