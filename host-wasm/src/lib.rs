//! `rmq-wasm`: rmq-core compiled to WebAssembly, as a thin, low-level
//! binding over [`rmq_core::client::Client`] for a JavaScript host.
//!
//! The JavaScript side (the npm package in `../js`) owns everything that
//! is I/O: sockets, the one timer, the clocks, waking callers. This crate
//! only translates between JS values and the core's types and follows the
//! core's host contract (see `rmq_core::client`):
//!
//! - inputs: [`WasmClient::connected`], [`WasmClient::input`],
//!   [`WasmClient::closed`], [`WasmClient::timeout`] (and the write
//!   back-pressure pair [`WasmClient::write_blocked`] /
//!   [`WasmClient::writable`]);
//! - commands: [`WasmClient::add_producer`], [`WasmClient::send`],
//!   [`WasmClient::send_batch`], [`WasmClient::add_consumer`],
//!   [`WasmClient::consumed`], the lite-pull controls
//!   ([`WasmClient::seek`], [`WasmClient::pause`], [`WasmClient::resume`],
//!   [`WasmClient::queue_offset`]), [`WasmClient::shutdown`];
//! - outputs, to drain after every input or command:
//!   [`WasmClient::poll_transmit`] (one at a time, so a blocked write is
//!   fed back before the next; or [`WasmClient::poll_transmits`], all at
//!   once), [`WasmClient::poll_delivery`],
//!   [`WasmClient::poll_offset_snapshot`] (broadcasting consumers' offsets
//!   for the host to store), [`WasmClient::poll_completion`], then re-arm
//!   one timer at [`WasmClient::poll_timeout`].
//!
//! Every `now` is the host's monotonic clock in milliseconds (a JS number,
//! e.g. `performance.now()`); a `now` smaller than an earlier one is
//! clamped, so the core never sees time go backwards. Wall-clock facts
//! (`wallMs`, `Date.now()`) come with the commands that need them.
//!
//! Operations that complete later (sends, shutdown) return an *operation
//! id* chosen here (not the core's send id, which a failed command never
//! gets); the outcome is drained with [`WasmClient::poll_completion`] as
//! `{ id, ok: true, result }` or `{ id, ok: false, error: { code, message, … } }`.
//!
//! # Errors and panics
//! Bad arguments (a non-object where an object is expected, a negative
//! time, an unknown producer) are checked here and thrown as JS `Error`s
//! carrying a `code` (`INVALID_ARGUMENT`, `CONFIG`, `INVALID_MESSAGE`).
//! Network and broker failures are never thrown: they are completions.
//!
//! `wasm32-unknown-unknown` builds with `panic = "abort"`: there is no
//! unwinding and so no `catch_unwind`. A panic (a core bug — the core's
//! policy is that no input panics it) traps the WebAssembly instance: the
//! call throws a `WebAssembly.RuntimeError`, and the instance must be
//! considered dead afterwards (its state may be half-updated, and the
//! object's borrow flag stays set, so every later call on it throws too).
//! The panic hook installed at construction keeps the panic message,
//! readable with [`last_panic`], so the JS host can reject every pending
//! promise with a meaningful error. This is why this layer validates every
//! input instead of letting the core's `debug_assert`s or indexing fail.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use rmq_core::acl::AclCredentials;
use rmq_core::client::{
    identify, parse_name_servers, Caller, Client, ConsumerId, Error as RmqError, HostFacts,
    Outcome, ProducerId,
};
use rmq_core::consumer::{
    ConsumeFrom, ConsumeResult, ConsumeType, ConsumerConfig, DeliveryId, MessageModel,
};
use rmq_core::engine::{ClientConfig, ConnId, Transmit};
use rmq_core::message::{validate_group, validate_topic, Message, MessageExt};
use rmq_core::producer::{
    Payload, ProducerConfig, QueueTarget, SendReceipt, SendRequest, SendResult, SendStatus,
    WallClock,
};
use rmq_core::protocol::headers::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
};
use rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq_core::route::MessageQueue;
use rmq_core::time::Instant;

// ----- panics -------------------------------------------------------------------

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            console_error(&format!("rmq-wasm panicked: {message}"));
            LAST_PANIC.with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    *p = Some(message);
                }
            });
        }));
    });
}

/// The message of the last panic (a trapped instance), if any.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.try_borrow().ok().and_then(|p| p.clone()))
}

/// TEST-ONLY: panics with `message`, trapping this WebAssembly instance.
/// It exists so the npm package's tests can check that a panic becomes a
/// rejected promise and that new clients get a fresh instance; it is not
/// part of the API (`js/src/wasm.js` keeps it internal).
#[doc(hidden)]
#[wasm_bindgen(js_name = __testPanic)]
pub fn __test_panic(message: &str) {
    install_panic_hook();
    panic!("{message}");
}

// ----- JS value helpers ---------------------------------------------------------------

/// A JS `Error` with a `code` property.
fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

fn invalid(message: impl AsRef<str>) -> JsValue {
    js_error("INVALID_ARGUMENT", message.as_ref())
}

fn get(obj: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    if !obj.is_object() {
        return Err(invalid(format!("expected an object holding `{key}`")));
    }
    Reflect::get(obj, &JsValue::from_str(key))
}

fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    let v = get(obj, key)?;
    if absent(&v) {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| invalid(format!("`{key}` must be a string")))
}

fn req_string(obj: &JsValue, key: &str) -> Result<String, JsValue> {
    opt_string(obj, key)?.ok_or_else(|| invalid(format!("`{key}` is required")))
}

fn opt_number(obj: &JsValue, key: &str) -> Result<Option<f64>, JsValue> {
    let v = get(obj, key)?;
    if absent(&v) {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() => Ok(Some(n)),
        _ => Err(invalid(format!("`{key}` must be a finite number"))),
    }
}

/// A non-negative integer no larger than `max`.
fn whole(n: f64, what: &str, max: f64) -> Result<u64, JsValue> {
    if !n.is_finite() || n < 0.0 || n > max || n.fract() != 0.0 {
        // `max` as an integer: formatting an f64 would pull in float printing.
        return Err(invalid(format!(
            "`{what}` must be a whole number from 0 to {}",
            max as u64
        )));
    }
    Ok(n as u64)
}

fn opt_whole(obj: &JsValue, key: &str, max: f64) -> Result<Option<u64>, JsValue> {
    opt_number(obj, key)?
        .map(|n| whole(n, key, max))
        .transpose()
}

fn opt_millis(obj: &JsValue, key: &str) -> Result<Option<Duration>, JsValue> {
    Ok(opt_whole(obj, key, MAX_SAFE)?.map(Duration::from_millis))
}

fn opt_bool(obj: &JsValue, key: &str) -> Result<Option<bool>, JsValue> {
    let v = get(obj, key)?;
    if absent(&v) {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| invalid(format!("`{key}` must be a boolean")))
}

const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

fn bytes_to_js(bytes: &[u8]) -> Uint8Array {
    Uint8Array::from(bytes)
}

fn wall(wall_ms: f64) -> Result<WallClock, JsValue> {
    if !wall_ms.is_finite() || wall_ms.abs() > MAX_SAFE {
        return Err(invalid("`wallMs` must be a finite number (Date.now())"));
    }
    Ok(WallClock::from_unix_ms(wall_ms.floor() as i64))
}

// ----- completions -------------------------------------------------------------------

type Done = Rc<RefCell<VecDeque<(u64, Answer, Outcome)>>>;

/// How the answer to a raw request becomes a result.
#[derive(Debug, Clone)]
enum Answer {
    /// `{ code }`: sends and shutdown never answer raw.
    Code,
    /// One of the queue-offset requests: `{ offset }` from its response
    /// header, a broker refusal as a `BROKER` error.
    Offset(OffsetKind, String),
}

/// Which offset [`WasmClient::queue_offset`] asks for.
#[derive(Debug, Clone, Copy)]
enum OffsetKind {
    Min,
    Max,
    ByTimestamp,
}

/// A caller that records its outcome under an operation id, for
/// [`WasmClient::poll_completion`]. It never calls back into the client.
struct Recorder {
    op: u64,
    answer: Answer,
    done: Done,
}

impl Caller for Recorder {
    fn complete(self, outcome: Outcome) {
        // Never borrowed elsewhere while the client runs.
        if let Ok(mut done) = self.done.try_borrow_mut() {
            done.push_back((self.op, self.answer, outcome));
        }
    }
}

fn error_code(e: &RmqError) -> &'static str {
    #[allow(unreachable_patterns)]
    match e {
        RmqError::InvalidMessage(_) => "INVALID_MESSAGE",
        RmqError::NoRoute { .. } => "NO_ROUTE",
        RmqError::Timeout { .. } => "TIMEOUT",
        RmqError::Broker { .. } => "BROKER",
        RmqError::Connection { .. } => "CONNECTION",
        RmqError::NotStarted => "NOT_STARTED",
        RmqError::ShutDown => "SHUT_DOWN",
        RmqError::Config(_) => "CONFIG",
        RmqError::Protocol(_) => "PROTOCOL",
        _ => "ERROR",
    }
}

fn error_to_js(e: RmqError) -> Object {
    let o = Object::new();
    set(&o, "code", error_code(&e));
    set(&o, "message", e.to_string());
    match &e {
        RmqError::NoRoute { topic, .. } => set(&o, "topic", topic.as_str()),
        RmqError::Timeout { broker } => set(&o, "broker", broker.as_str()),
        RmqError::Broker {
            broker,
            code,
            remark,
        } => {
            set(&o, "broker", broker.as_str());
            set(&o, "responseCode", *code);
            set(&o, "remark", remark.as_str());
        }
        RmqError::Connection { addr, .. } => set(&o, "addr", addr.as_str()),
        _ => {}
    }
    o
}

fn queue_to_js(q: &MessageQueue) -> Object {
    let o = Object::new();
    set(&o, "topic", q.topic.as_str());
    set(&o, "brokerName", q.broker_name.as_str());
    set(&o, "queueId", q.queue_id);
    o
}

fn status_name(s: SendStatus) -> &'static str {
    match s {
        SendStatus::Ok => "SEND_OK",
        SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    }
}

fn send_result_to_js(r: &SendResult) -> Object {
    let o = Object::new();
    set(&o, "status", status_name(r.status));
    set(&o, "msgId", r.msg_id.as_str());
    set(&o, "offsetMsgId", r.offset_msg_id.as_str());
    set(&o, "queue", queue_to_js(&r.queue));
    set(&o, "queueOffset", r.queue_offset as f64);
    if let Some(t) = &r.transaction_id {
        set(&o, "transactionId", t.as_str());
    }
    if let Some(region) = &r.region_id {
        set(&o, "regionId", region.as_str());
    }
    o
}

/// The `{ offset }` of a queue-offset answer, or why there is none.
fn offset_answer(
    kind: OffsetKind,
    broker: String,
    cmd: &RemotingCommand,
) -> Result<Object, RmqError> {
    if cmd.code != response_code::SUCCESS {
        return Err(RmqError::Broker {
            broker,
            code: cmd.code,
            remark: cmd.remark.clone().unwrap_or_default(),
        });
    }
    let offset = match kind {
        OffsetKind::Min => cmd.header::<GetMinOffsetResponseHeader>().map(|h| h.offset),
        OffsetKind::Max => cmd.header::<GetMaxOffsetResponseHeader>().map(|h| h.offset),
        OffsetKind::ByTimestamp => cmd.header::<SearchOffsetResponseHeader>().map(|h| h.offset),
    }
    .map_err(|e| RmqError::Protocol(e.to_string()))?;
    let r = Object::new();
    set(&r, "offset", offset as f64);
    Ok(r)
}

fn completion_to_js(op: u64, answer: Answer, outcome: Outcome) -> Object {
    let o = Object::new();
    set(&o, "id", op as f64);
    let result: Result<JsValue, RmqError> = match outcome {
        Outcome::Sent { result, .. } => match result {
            Ok(SendReceipt::Acknowledged(r)) => Ok(send_result_to_js(&r).into()),
            Ok(SendReceipt::Written { msg_id, queue }) => {
                let r = Object::new();
                set(&r, "status", "WRITTEN");
                set(&r, "msgId", msg_id.as_str());
                set(&r, "queue", queue_to_js(&queue));
                Ok(r.into())
            }
            Err(e) => Err(e.into()),
        },
        Outcome::Answered { result, .. } => match (result, answer) {
            (Ok(cmd), Answer::Offset(kind, broker)) => {
                offset_answer(kind, broker, &cmd).map(JsValue::from)
            }
            (Ok(cmd), Answer::Code) => {
                let r = Object::new();
                set(&r, "code", cmd.code);
                Ok(r.into())
            }
            (Err(e), _) => Err(e.into()),
        },
        Outcome::ShutDown => {
            let r = Object::new();
            set(&r, "kind", "shutdown");
            Ok(r.into())
        }
    };
    match result {
        Ok(r) => {
            set(&o, "ok", true);
            set(&o, "result", r);
        }
        Err(e) => {
            set(&o, "ok", false);
            set(&o, "error", error_to_js(e));
        }
    }
    o
}

fn message_ext_to_js(m: &MessageExt, broker_name: &str) -> Object {
    let o = Object::new();
    let msg = &m.message;
    set(&o, "topic", msg.topic.as_str());
    if let Some(tags) = msg.tags() {
        set(&o, "tags", tags);
    }
    let keys = Array::new();
    for k in msg.keys() {
        keys.push(&JsValue::from_str(k));
    }
    set(&o, "keys", keys);
    let props = Object::new();
    for (k, v) in msg.properties.iter() {
        set(&props, k, v);
    }
    set(&o, "properties", props);
    set(&o, "body", bytes_to_js(&msg.body));
    set(&o, "flag", msg.flag);
    set(&o, "msgId", m.id());
    set(&o, "offsetMsgId", m.msg_id.as_str());
    set(&o, "brokerName", broker_name);
    set(&o, "queueId", m.queue_id);
    set(&o, "queueOffset", m.queue_offset as f64);
    set(&o, "reconsumeTimes", m.reconsume_times);
    set(&o, "bornTimestamp", m.born_timestamp as f64);
    set(&o, "storeTimestamp", m.store_timestamp as f64);
    set(&o, "bornHost", m.born_host.to_string());
    set(&o, "storeHost", m.store_host.to_string());
    o
}

fn transmit_to_js(t: Transmit) -> Object {
    let o = Object::new();
    match t {
        Transmit::Connect { conn, addr } => {
            set(&o, "kind", "connect");
            set(&o, "conn", conn.0 as f64);
            set(&o, "addr", addr);
        }
        Transmit::Write { conn, bytes } => {
            set(&o, "kind", "write");
            set(&o, "conn", conn.0 as f64);
            set(&o, "bytes", bytes_to_js(&bytes));
        }
        Transmit::Close { conn } => {
            set(&o, "kind", "close");
            set(&o, "conn", conn.0 as f64);
        }
    }
    o
}

// ----- message and config parsing ---------------------------------------------

fn body_of(v: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    if v.is_instance_of::<Uint8Array>() {
        return Ok(Uint8Array::from(v.clone()).to_vec());
    }
    if absent(v) {
        return Ok(Vec::new());
    }
    Err(invalid("`body` must be a string or a Uint8Array"))
}

fn strings_of(v: &JsValue, what: &str) -> Result<Vec<String>, JsValue> {
    if absent(v) {
        return Ok(Vec::new());
    }
    if let Some(s) = v.as_string() {
        return Ok(vec![s]);
    }
    if !Array::is_array(v) {
        return Err(invalid(format!(
            "`{what}` must be a string or an array of strings"
        )));
    }
    let mut out = Vec::new();
    for item in Array::from(v).iter() {
        out.push(
            item.as_string()
                .ok_or_else(|| invalid(format!("`{what}` must hold strings only")))?,
        );
    }
    Ok(out)
}

fn message_of(v: &JsValue) -> Result<Message, JsValue> {
    let topic = req_string(v, "topic")?;
    let body = body_of(&get(v, "body")?)?;
    let mut m = Message::new(topic, body);
    let tags = match opt_string(v, "tags")? {
        Some(t) => Some(t),
        None => opt_string(v, "tag")?,
    };
    if let Some(tags) = tags {
        m = m.with_tags(tags);
    }
    let keys = strings_of(&get(v, "keys")?, "keys")?;
    if !keys.is_empty() {
        m = m.with_keys(keys);
    }
    let props = get(v, "properties")?;
    if !absent(&props) {
        if !props.is_object() {
            return Err(invalid("`properties` must be an object of strings"));
        }
        for entry in Object::entries(&Object::from(props)).iter() {
            let pair = Array::from(&entry);
            let name = pair.get(0).as_string().unwrap_or_default();
            let value = pair
                .get(1)
                .as_string()
                .ok_or_else(|| invalid(format!("property `{name}` must be a string")))?;
            m.put_user_property(&name, &value)
                .map_err(|e| js_error("INVALID_MESSAGE", &e.to_string()))?;
        }
    }
    if let Some(level) = opt_whole(v, "delayLevel", 255.0)? {
        m = m.with_delay_level(level as u8);
    }
    if let Some(at) = opt_number(v, "deliverAt")? {
        m = m.with_deliver_at(at.floor() as i64);
    }
    if let Some(flag) = opt_number(v, "flag")? {
        m = m.with_flag(flag as i32);
    }
    Ok(m)
}

/// A queue: `{ topic, brokerName, queueId }` (as a send result's `queue`).
fn queue_of(v: &JsValue) -> Result<MessageQueue, JsValue> {
    let topic = req_string(v, "topic")?;
    validate_topic(&topic).map_err(|e| js_error("CONFIG", &format!("topic: {e}")))?;
    let broker_name = req_string(v, "brokerName")?;
    let queue_id = opt_whole(v, "queueId", f64::from(i32::MAX))?
        .ok_or_else(|| invalid("`queueId` is required"))?;
    Ok(MessageQueue::new(topic, broker_name, queue_id as i32))
}

/// An array of queues.
fn queues_of(v: &JsValue) -> Result<Vec<MessageQueue>, JsValue> {
    if !Array::is_array(v) {
        return Err(invalid(
            "queues must be an array of { topic, brokerName, queueId }",
        ));
    }
    Array::from(v).iter().map(|q| queue_of(&q)).collect()
}

/// Bytes given as a Uint8Array or a string (UTF-8).
fn opt_bytes(obj: &JsValue, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
    let v = get(obj, key)?;
    if absent(&v) {
        return Ok(None);
    }
    if let Some(s) = v.as_string() {
        return Ok(Some(s.into_bytes()));
    }
    if v.is_instance_of::<Uint8Array>() {
        return Ok(Some(Uint8Array::from(v).to_vec()));
    }
    Err(invalid(format!("`{key}` must be a Uint8Array or a string")))
}

fn producer_config_of(v: &JsValue) -> Result<ProducerConfig, JsValue> {
    let mut c = ProducerConfig {
        group: req_string(v, "group")?,
        ..ProducerConfig::default()
    };
    validate_group(&c.group).map_err(|e| js_error("CONFIG", &format!("producer group: {e}")))?;
    if let Some(n) = opt_whole(v, "retries", 1000.0)? {
        c.retries = n as u32;
    }
    if let Some(d) = opt_millis(v, "sendTimeoutMs")? {
        c.send_timeout = d;
    }
    if let Some(n) = opt_whole(v, "compressThreshold", MAX_SAFE)? {
        c.compress_threshold = n as usize;
    }
    if let Some(n) = opt_whole(v, "maxMessageSize", MAX_SAFE)? {
        c.max_message_size = n as usize;
    }
    Ok(c)
}

fn consumer_config_of(v: &JsValue) -> Result<ConsumerConfig, JsValue> {
    let mut c = ConsumerConfig {
        group: req_string(v, "group")?,
        ..ConsumerConfig::default()
    };
    validate_group(&c.group).map_err(|e| js_error("CONFIG", &format!("consumer group: {e}")))?;
    if let Some(model) = opt_string(v, "model")? {
        c.model = match model.as_str() {
            "clustering" | "CLUSTERING" => MessageModel::Clustering,
            "broadcasting" | "BROADCASTING" => MessageModel::Broadcasting,
            _ => return Err(invalid("`model` is 'clustering' or 'broadcasting'")),
        };
    }
    let from = get(v, "consumeFrom")?;
    if let Some(n) = from.as_f64() {
        // NaN, infinities, negatives and fractions: not a Unix ms time.
        c.consume_from = ConsumeFrom::Timestamp(whole(n, "consumeFrom", MAX_SAFE)? as i64);
    } else if let Some(s) = from.as_string() {
        c.consume_from = match s.as_str() {
            "last" => ConsumeFrom::Last,
            "first" => ConsumeFrom::First,
            "halfHourAgo" => ConsumeFrom::HalfHourAgo,
            _ => {
                return Err(invalid(
                    "`consumeFrom` is 'last', 'first', 'halfHourAgo' or a Unix ms timestamp",
                ))
            }
        };
    } else if !absent(&from) {
        return Err(invalid("`consumeFrom` must be a string or a number"));
    }
    if let Some(n) = opt_whole(v, "batchSize", 1024.0)? {
        c.consume_batch_size = (n as usize).max(1);
    }
    if let Some(n) = opt_whole(v, "pullBatchSize", 1024.0)? {
        c.pull_batch_size = (n as i32).max(1);
    }
    if let Some(n) = opt_number(v, "maxReconsumeTimes")? {
        c.max_reconsume_times = n as i32;
    }
    if let Some(n) = opt_whole(v, "concurrency", 4096.0)? {
        c.handler_threads = (n as usize).max(1);
    }
    if let Some(d) = opt_millis(v, "consumeTimeoutMs")? {
        c.consume_timeout = d;
    }
    if let Some(b) = opt_bool(v, "orderly")? {
        c.orderly = b;
    }
    if let Some(d) = opt_millis(v, "pullSuspendMs")? {
        c.pull_suspend = d;
        // The pull's deadline must outlast the broker's hold.
        c.pull_timeout = c.pull_timeout.max(d + Duration::from_secs(5));
    }
    if let Some(d) = opt_millis(v, "rebalanceIntervalMs")? {
        c.rebalance_interval = d.max(Duration::from_millis(100));
    }
    if let Some(d) = opt_millis(v, "persistIntervalMs")? {
        c.persist_interval = d.max(Duration::from_millis(100));
    }
    if let Some(t) = opt_string(v, "consumeType")? {
        c.consume_type = match t.as_str() {
            "push" => ConsumeType::ConsumePassively,
            "pull" => ConsumeType::ConsumeActively,
            _ => return Err(invalid("`consumeType` is 'push' or 'pull'")),
        };
    }
    Ok(c)
}

fn subscriptions_of(v: &JsValue) -> Result<Vec<(String, String, bool)>, JsValue> {
    if !Array::is_array(v) {
        return Err(invalid(
            "subscriptions must be an array of { topic, expression, sql? }",
        ));
    }
    let mut out = Vec::new();
    for s in Array::from(v).iter() {
        let topic = req_string(&s, "topic")?;
        validate_topic(&topic).map_err(|e| js_error("CONFIG", &format!("topic: {e}")))?;
        let expression = opt_string(&s, "expression")?.unwrap_or_else(|| String::from("*"));
        let sql = opt_bool(&s, "sql")?.unwrap_or(false);
        out.push((topic, expression, sql));
    }
    if out.is_empty() {
        return Err(js_error("CONFIG", "no subscription"));
    }
    Ok(out)
}

fn consume_result_of(v: &JsValue) -> Result<ConsumeResult, JsValue> {
    if let Some(b) = v.as_bool() {
        return Ok(if b {
            ConsumeResult::Success
        } else {
            ConsumeResult::RETRY
        });
    }
    if let Some(s) = v.as_string() {
        return match s.as_str() {
            "success" | "SUCCESS" | "CONSUME_SUCCESS" => Ok(ConsumeResult::Success),
            "retry" | "RETRY" | "RECONSUME_LATER" => Ok(ConsumeResult::RETRY),
            _ => Err(invalid("a consume result is 'success' or 'retry'")),
        };
    }
    if v.is_object() {
        let acked = opt_whole(v, "acked", MAX_SAFE)?.unwrap_or(0) as usize;
        let delay_level = opt_number(v, "delayLevel")?.unwrap_or(0.0) as i32;
        return Ok(ConsumeResult::RetryLater { acked, delay_level });
    }
    Err(invalid(
        "a consume result is 'success', 'retry' or { acked, delayLevel }",
    ))
}

// ----- the client ----------------------------------------------------------------------

/// One rmq client (producers and consumers sharing connections), driven by
/// a JavaScript host. See the crate docs for the contract.
#[wasm_bindgen]
pub struct WasmClient {
    client: Client<Recorder>,
    done: Done,
    producers: Vec<ProducerId>,
    consumers: Vec<ConsumerId>,
    next_op: u64,
    last_now: u64,
    client_id: String,
    /// The highest delivery id handed out so far (see [`WasmClient::seek`]).
    last_delivery: u64,
}

#[wasm_bindgen]
impl WasmClient {
    /// `options`: `{ nameServer: 'host:port;host:port', now, wallMs, ip?,
    /// pid?, instanceName?, requestTimeoutMs?, heartbeatIntervalMs?,
    /// routeRefreshIntervalMs?, accessKey?, secretKey?, securityToken? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<WasmClient, JsValue> {
        install_panic_hook();
        let mut config = ClientConfig::default();
        let names = req_string(&options, "nameServer")?;
        config.name_servers = parse_name_servers(&names);
        if config.name_servers.is_empty() {
            return Err(js_error("CONFIG", "no name server address"));
        }
        let ip: IpAddr = match opt_string(&options, "ip")? {
            Some(s) => s
                .parse()
                .map_err(|_| invalid(format!("`ip` is not an IP address: {s}")))?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let pid = opt_whole(&options, "pid", f64::from(u32::MAX))?.unwrap_or(0) as u32;
        let wall_ms = opt_number(&options, "wallMs")?
            .ok_or_else(|| invalid("`wallMs` (Date.now()) is required"))?;
        let nanos = if wall_ms > 0.0 {
            (wall_ms * 1_000_000.0) as u128
        } else {
            0
        };
        let facts = HostFacts {
            ip,
            pid,
            unix_nanos: nanos,
        };
        let instance = opt_string(&options, "instanceName")?;
        identify(&mut config, &facts, instance.as_deref());
        if let Some(d) = opt_millis(&options, "requestTimeoutMs")? {
            config.request_timeout = d;
        }
        if let Some(d) = opt_millis(&options, "heartbeatIntervalMs")? {
            config.heartbeat_interval = d.max(Duration::from_millis(100));
        }
        if let Some(d) = opt_millis(&options, "routeRefreshIntervalMs")? {
            config.route_refresh_interval = d.max(Duration::from_millis(100));
        }
        if let Some(access_key) = opt_string(&options, "accessKey")? {
            config.credentials = Some(AclCredentials {
                access_key,
                secret_key: req_string(&options, "secretKey")?,
                security_token: opt_string(&options, "securityToken")?,
            });
        }
        let now = opt_number(&options, "now")?.unwrap_or(0.0);
        let now = whole(now.floor(), "now", MAX_SAFE)?;
        let client_id = config.client_id.clone();
        Ok(WasmClient {
            client: Client::new(config, Instant::from_millis(now)),
            done: Rc::default(),
            producers: Vec::new(),
            consumers: Vec::new(),
            next_op: 1,
            last_now: now,
            client_id,
            last_delivery: 0,
        })
    }

    /// This client's id (`ip@instance`).
    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> String {
        self.client_id.clone()
    }

    fn now(&mut self, now: f64) -> Result<Instant, JsValue> {
        if !(0.0..=MAX_SAFE).contains(&now) {
            return Err(invalid("`now` must be a non-negative monotonic time in ms"));
        }
        // Never backwards, whatever the host passes.
        self.last_now = self.last_now.max(now.floor() as u64);
        Ok(Instant::from_millis(self.last_now))
    }

    fn conn(conn: f64) -> Result<ConnId, JsValue> {
        Ok(ConnId(whole(conn, "conn", MAX_SAFE)?))
    }

    fn op(&mut self) -> (u64, Recorder) {
        self.op_answered(Answer::Code)
    }

    fn op_answered(&mut self, answer: Answer) -> (u64, Recorder) {
        let op = self.next_op;
        self.next_op += 1;
        let caller = Recorder {
            op,
            answer,
            done: Rc::clone(&self.done),
        };
        (op, caller)
    }

    fn producer(&self, producer: f64) -> Result<ProducerId, JsValue> {
        let i = whole(producer, "producer", MAX_SAFE)? as usize;
        self.producers
            .get(i)
            .copied()
            .ok_or_else(|| invalid(format!("no producer {i}")))
    }

    fn consumer(&self, consumer: f64) -> Result<ConsumerId, JsValue> {
        let i = whole(consumer, "consumer", MAX_SAFE)? as usize;
        self.consumers
            .get(i)
            .copied()
            .ok_or_else(|| invalid(format!("no consumer {i}")))
    }

    // ----- inputs ------------------------------------------------------------------

    /// The connection `conn` (of a `connect` transmit) is open.
    pub fn connected(&mut self, conn: f64, now: f64) -> Result<(), JsValue> {
        let (conn, now) = (Self::conn(conn)?, self.now(now)?);
        self.client.handle_connected(conn, now);
        Ok(())
    }

    /// Bytes read from `conn`, in any split.
    pub fn input(&mut self, conn: f64, bytes: &[u8], now: f64) -> Result<(), JsValue> {
        let (conn, now) = (Self::conn(conn)?, self.now(now)?);
        self.client.handle_input(conn, bytes, now);
        Ok(())
    }

    /// `conn` failed to open, or ended.
    pub fn closed(&mut self, conn: f64, reason: &str, now: f64) -> Result<(), JsValue> {
        let (conn, now) = (Self::conn(conn)?, self.now(now)?);
        self.client.handle_closed(conn, reason, now);
        Ok(())
    }

    /// The socket did not take `unwritten` (the tail of a write); the core
    /// holds it, bounded, until [`WasmClient::writable`].
    #[wasm_bindgen(js_name = writeBlocked)]
    pub fn write_blocked(&mut self, conn: f64, unwritten: &[u8], now: f64) -> Result<(), JsValue> {
        let (conn, now) = (Self::conn(conn)?, self.now(now)?);
        self.client.handle_write_blocked(conn, unwritten, now);
        Ok(())
    }

    /// The socket of `conn` drained after a [`WasmClient::write_blocked`].
    pub fn writable(&mut self, conn: f64, now: f64) -> Result<(), JsValue> {
        let (conn, now) = (Self::conn(conn)?, self.now(now)?);
        self.client.handle_writable(conn, now);
        Ok(())
    }

    /// The timer armed at [`WasmClient::poll_timeout`] fired.
    pub fn timeout(&mut self, now: f64) -> Result<(), JsValue> {
        let now = self.now(now)?;
        self.client.handle_timeout(now);
        Ok(())
    }

    // ----- commands ---------------------------------------------------------------

    /// Adds a producer group (`{ group, retries?, sendTimeoutMs?,
    /// compressThreshold?, maxMessageSize? }`); returns its index.
    #[wasm_bindgen(js_name = addProducer)]
    pub fn add_producer(&mut self, config: JsValue, now: f64) -> Result<u32, JsValue> {
        let config = producer_config_of(&config)?;
        let now = self.now(now)?;
        let id = self.client.add_producer(config, now);
        self.producers.push(id);
        Ok((self.producers.len() - 1) as u32)
    }

    /// Starts sending `message` (`{ topic, body, tags?|tag?, keys?,
    /// properties?, delayLevel?, deliverAt?, flag? }`) with producer
    /// `producer`; returns the operation id its completion carries.
    /// `options`: `{ oneway?, timeoutMs?, shardingKey?, queue? }` or
    /// undefined (`shardingKey`: the queue Java's `SelectMessageQueueByHash`
    /// picks; `queue`: exactly this `{ topic, brokerName, queueId }`, no
    /// retry elsewhere).
    pub fn send(
        &mut self,
        producer: f64,
        message: JsValue,
        now: f64,
        wall_ms: f64,
        options: JsValue,
    ) -> Result<f64, JsValue> {
        let message = message_of(&message)?;
        self.submit(producer, Payload::Single(message), now, wall_ms, &options)
    }

    /// Starts sending `messages` (an array of messages of one topic, as
    /// for [`WasmClient::send`]) as one batch request: they are stored in
    /// order, and the result's `msgId` and `offsetMsgId` are
    /// comma-separated lists (as Java's). `options` as for `send`, without
    /// `oneway`.
    #[wasm_bindgen(js_name = sendBatch)]
    pub fn send_batch(
        &mut self,
        producer: f64,
        messages: JsValue,
        now: f64,
        wall_ms: f64,
        options: JsValue,
    ) -> Result<f64, JsValue> {
        if !Array::is_array(&messages) {
            return Err(invalid("a batch is an array of messages"));
        }
        let batch = Array::from(&messages)
            .iter()
            .map(|m| message_of(&m))
            .collect::<Result<Vec<_>, _>>()?;
        if !absent(&options) && opt_bool(&options, "oneway")? == Some(true) {
            return Err(invalid("a batch is never oneway"));
        }
        self.submit(producer, Payload::Batch(batch), now, wall_ms, &options)
    }

    fn submit(
        &mut self,
        producer: f64,
        payload: Payload,
        now: f64,
        wall_ms: f64,
        options: &JsValue,
    ) -> Result<f64, JsValue> {
        let producer = self.producer(producer)?;
        let mut request = SendRequest {
            payload,
            target: QueueTarget::Any,
            oneway: false,
            timeout: None,
            clock: wall(wall_ms)?,
        };
        if !absent(options) {
            request.oneway = opt_bool(options, "oneway")?.unwrap_or(false);
            request.timeout = opt_millis(options, "timeoutMs")?;
            let queue = get(options, "queue")?;
            if !absent(&queue) {
                request.target = QueueTarget::Queue(queue_of(&queue)?);
            } else if let Some(key) = opt_string(options, "shardingKey")? {
                request.target = QueueTarget::ShardingKey(key);
            }
        }
        let now = self.now(now)?;
        let (op, caller) = self.op();
        self.client.send(producer, request, now, caller);
        Ok(op as f64)
    }

    /// Adds and starts a consumer group (`{ group, model?, consumeFrom?,
    /// batchSize?, pullBatchSize?, maxReconsumeTimes?, concurrency?,
    /// consumeTimeoutMs?, orderly?, pullSuspendMs?, rebalanceIntervalMs?,
    /// persistIntervalMs?, consumeType?, assign?, storedOffsets? }`)
    /// subscribed to `subscriptions` (`[{ topic, expression?, sql? }]`;
    /// may be empty with `assign`); returns its index.
    ///
    /// `consumeType: 'pull'` announces a lite pull consumer (Java's
    /// `CONSUME_ACTIVELY`); `assign` (an array of queues) consumes exactly
    /// those queues, without a group rebalance; `storedOffsets` (bytes of
    /// an earlier [`WasmClient::poll_offset_snapshot`]) is where a
    /// broadcasting consumer starts.
    #[wasm_bindgen(js_name = addConsumer)]
    pub fn add_consumer(
        &mut self,
        config: JsValue,
        subscriptions: JsValue,
        now: f64,
        wall_ms: f64,
    ) -> Result<u32, JsValue> {
        let assign = get(&config, "assign")?;
        let assigned = if absent(&assign) {
            None
        } else {
            Some(queues_of(&assign)?)
        };
        let stored = opt_bytes(&config, "storedOffsets")?;
        let consumer_config = consumer_config_of(&config)?;
        let subs = match &assigned {
            Some(queues)
                if Array::is_array(&subscriptions) && Array::from(&subscriptions).length() == 0 =>
            {
                if queues.is_empty() {
                    return Err(js_error("CONFIG", "no queue assigned"));
                }
                Vec::new()
            }
            _ => subscriptions_of(&subscriptions)?,
        };
        let version = wall(wall_ms)?.now_ms;
        let now = self.now(now)?;
        let subs: Vec<(&str, &str, bool)> = subs
            .iter()
            .map(|(t, e, s)| (t.as_str(), e.as_str(), *s))
            .collect();
        let id = self.client.add_consumer_with(
            consumer_config,
            &subs,
            stored.as_deref(),
            version,
            now,
            |c| {
                if let Some(queues) = assigned {
                    c.assign(queues, version);
                }
            },
        );
        self.consumers.push(id);
        Ok((self.consumers.len() - 1) as u32)
    }

    /// Lite pull: the next pull of `queue` (`{ topic, brokerName, queueId
    /// }`) starts at `offset`; what was pulled and not yet consumed of it
    /// is dropped. Returns the highest delivery id handed out before the
    /// seek: a delivery of this queue with an id up to it, still on its
    /// way to the application, predates the seek and must be dropped.
    /// Throws `CONFIG` when the consumer does not own the queue (yet).
    pub fn seek(
        &mut self,
        consumer: f64,
        queue: JsValue,
        offset: f64,
        now: f64,
    ) -> Result<f64, JsValue> {
        let consumer = self.consumer(consumer)?;
        let mq = queue_of(&queue)?;
        let offset = whole(offset, "offset", MAX_SAFE)? as i64;
        let now = self.now(now)?;
        let sought = self
            .client
            .with_consumer(consumer, now, |c, ctx| c.seek(ctx, &mq, offset));
        if sought != Some(true) {
            return Err(js_error(
                "CONFIG",
                &format!(
                    "queue {}@{}#{} is not owned by this consumer (yet)",
                    mq.topic, mq.broker_name, mq.queue_id
                ),
            ));
        }
        Ok(self.last_delivery as f64)
    }

    /// Lite pull: stops pulling `queues` (an array) until [`WasmClient::resume`].
    pub fn pause(&mut self, consumer: f64, queues: JsValue, now: f64) -> Result<(), JsValue> {
        let consumer = self.consumer(consumer)?;
        let queues = queues_of(&queues)?;
        let now = self.now(now)?;
        self.client
            .with_consumer(consumer, now, |c, _| c.pause(&queues));
        Ok(())
    }

    /// Lite pull: pulls `queues` again.
    pub fn resume(&mut self, consumer: f64, queues: JsValue, now: f64) -> Result<(), JsValue> {
        let consumer = self.consumer(consumer)?;
        let queues = queues_of(&queues)?;
        let now = self.now(now)?;
        self.client
            .with_consumer(consumer, now, |c, ctx| c.resume(ctx, &queues));
        Ok(())
    }

    /// The queues consumer `consumer` owns now (by its last rebalance, or
    /// its assignment), as `{ topic, brokerName, queueId }`.
    #[wasm_bindgen(js_name = ownedQueues)]
    pub fn owned_queues(&self, consumer: f64) -> Result<Array, JsValue> {
        let consumer = self.consumer(consumer)?;
        let out = Array::new();
        if let Some(c) = self.client.consumer(consumer) {
            for q in c.owned_queues() {
                out.push(&queue_to_js(q));
            }
        }
        Ok(out)
    }

    /// The offset consumer `consumer` would commit for `queue` now, or
    /// undefined when it does not own the queue or knows no offset yet.
    #[wasm_bindgen(js_name = committedOffset)]
    pub fn committed_offset(&self, consumer: f64, queue: JsValue) -> Result<Option<f64>, JsValue> {
        let consumer = self.consumer(consumer)?;
        let mq = queue_of(&queue)?;
        Ok(self
            .client
            .consumer(consumer)
            .and_then(|c| c.committed_offset(&mq))
            .map(|o| o as f64))
    }

    /// Asks `queue`'s master broker for an offset: `kind` `'min'` (the
    /// first stored), `'max'` (the next to be written) or `'timestamp'`
    /// (the first stored at or after `timestamp`, Unix ms); returns the
    /// operation id whose result is `{ offset }`. Throws `NO_ROUTE` when
    /// the queue's broker is not routed yet.
    #[wasm_bindgen(js_name = queueOffset)]
    pub fn queue_offset(
        &mut self,
        kind: &str,
        queue: JsValue,
        timestamp: f64,
        now: f64,
    ) -> Result<f64, JsValue> {
        let mq = queue_of(&queue)?;
        let (kind, cmd) = match kind {
            "min" => (
                OffsetKind::Min,
                RemotingCommand::request(request_code::GET_MIN_OFFSET, 0).with_header(
                    &GetMinOffsetRequestHeader {
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        ..Default::default()
                    },
                ),
            ),
            "max" => (
                OffsetKind::Max,
                RemotingCommand::request(request_code::GET_MAX_OFFSET, 0).with_header(
                    &GetMaxOffsetRequestHeader {
                        topic: mq.topic.clone(),
                        queue_id: mq.queue_id,
                        ..Default::default()
                    },
                ),
            ),
            "timestamp" => {
                if !timestamp.is_finite() || timestamp.abs() > MAX_SAFE {
                    return Err(invalid("`timestamp` must be a Unix time in ms"));
                }
                (
                    OffsetKind::ByTimestamp,
                    RemotingCommand::request(request_code::SEARCH_OFFSET_BY_TIMESTAMP, 0)
                        .with_header(&SearchOffsetRequestHeader {
                            topic: mq.topic.clone(),
                            queue_id: mq.queue_id,
                            timestamp: timestamp.floor() as i64,
                            ..Default::default()
                        }),
                )
            }
            _ => return Err(invalid("`kind` is 'min', 'max' or 'timestamp'")),
        };
        let addr = self
            .client
            .engine()
            .route(&mq.topic)
            .and_then(|t| t.master_addr(&mq.broker_name))
            .map(String::from)
            .ok_or_else(|| {
                js_error(
                    "NO_ROUTE",
                    &format!(
                        "broker {} of topic {} is not routed yet",
                        mq.broker_name, mq.topic
                    ),
                )
            })?;
        let timeout = self.client.config().request_timeout;
        let now = self.now(now)?;
        let (op, caller) = self.op_answered(Answer::Offset(kind, mq.broker_name));
        self.client.request(Some(&addr), cmd, timeout, now, caller);
        Ok(op as f64)
    }

    /// The handler of delivery `id` of consumer `consumer` finished with
    /// `result`: `'success'`, `'retry'`, a boolean, or `{ acked, delayLevel }`.
    pub fn consumed(
        &mut self,
        consumer: f64,
        id: f64,
        result: JsValue,
        now: f64,
    ) -> Result<(), JsValue> {
        let consumer = self.consumer(consumer)?;
        let id = DeliveryId(whole(id, "id", MAX_SAFE)?);
        let result = consume_result_of(&result)?;
        let now = self.now(now)?;
        self.client.consumed(consumer, id, result, now);
        Ok(())
    }

    /// Begins shutdown (consumers commit offsets, groups unregister,
    /// connections close); returns the operation id whose completion says
    /// it finished.
    pub fn shutdown(&mut self, now: f64) -> Result<f64, JsValue> {
        let now = self.now(now)?;
        let (op, caller) = self.op();
        self.client.shutdown(now, caller);
        Ok(op as f64)
    }

    /// True once shutdown finished (every connection closed).
    #[wasm_bindgen(js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    // ----- outputs ---------------------------------------------------------------

    /// Every pending network action, in order: `{ kind: 'connect', conn,
    /// addr }`, `{ kind: 'write', conn, bytes }`, `{ kind: 'close', conn }`.
    #[wasm_bindgen(js_name = pollTransmits)]
    pub fn poll_transmits(&mut self) -> Array {
        let out = Array::new();
        while let Some(t) = self.client.poll_transmit() {
            out.push(&transmit_to_js(t));
        }
        out
    }

    /// The next network action, or undefined.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self) -> Option<Object> {
        self.client.poll_transmit().map(transmit_to_js)
    }

    /// When to call [`WasmClient::timeout`] next (ms on the host's
    /// monotonic clock), or undefined.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.client.poll_timeout().map(|t| t.as_millis() as f64)
    }

    /// The next finished operation: `{ id, ok: true, result }` or
    /// `{ id, ok: false, error: { code, message, … } }`, or undefined.
    #[wasm_bindgen(js_name = pollCompletion)]
    pub fn poll_completion(&mut self) -> Option<Object> {
        let next = self.done.try_borrow_mut().ok()?.pop_front();
        next.map(|(op, answer, outcome)| completion_to_js(op, answer, outcome))
    }

    /// Broadcasting: the next snapshot of a consumer's offsets for the host
    /// to store, `{ consumer, bytes }` (Java's `offsets.json`; store it
    /// whole, replacing the previous one, and pass it back as
    /// `storedOffsets` to resume), or undefined.
    #[wasm_bindgen(js_name = pollOffsetSnapshot)]
    pub fn poll_offset_snapshot(&mut self) -> Option<Object> {
        let (consumer, bytes) = self.client.poll_offset_snapshot()?;
        let index = self.consumers.iter().position(|c| *c == consumer)?;
        let o = Object::new();
        set(&o, "consumer", index as u32);
        set(&o, "bytes", bytes_to_js(&bytes));
        Some(o)
    }

    /// The next batch for a consumer's handler: `{ consumer, id, queue,
    /// messages }`, or undefined.
    #[wasm_bindgen(js_name = pollDelivery)]
    pub fn poll_delivery(&mut self) -> Option<Object> {
        let (consumer, delivery) = self.client.poll_delivery()?;
        self.last_delivery = self.last_delivery.max(delivery.id.0);
        let index = self.consumers.iter().position(|c| *c == consumer)?;
        let o = Object::new();
        set(&o, "consumer", index as u32);
        set(&o, "id", delivery.id.0 as f64);
        set(&o, "queue", queue_to_js(&delivery.queue));
        let messages = Array::new();
        for m in &delivery.messages {
            messages.push(&message_ext_to_js(m, &delivery.queue.broker_name));
        }
        set(&o, "messages", messages);
        Some(o)
    }
}
