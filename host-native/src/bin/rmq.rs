//! `rmq`: send and consume messages, inspect routes and consumer offsets
//! from the command line.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use rmq::rmq_core::message::{validate_group, validate_topic};
use rmq::rmq_core::protocol::headers::{
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, RpcHeaderExtras,
};
use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, Message, MessageExt, MessageModel, MessageQueue, Producer,
    PushConsumer, RouteTable, Selector, TopicRouteData,
};
use tokio::sync::{mpsc, watch};

#[path = "rmq/admin_cli.rs"]
mod admin_cli;

/// rmq: an Apache RocketMQ client.
#[derive(Parser, Debug)]
#[command(name = "rmq", version, about, after_help = admin_cli::EXIT_CODES)]
struct Cli {
    /// Name servers, `host:port[;host:port]`.
    #[arg(
        long,
        short = 'n',
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876",
        global = true
    )]
    namesrv: String,
    /// Speak TLS to name servers and brokers (servers started with
    /// `tls.server.mode=enforcing`), verifying them against the system's
    /// CA store, or --tls-ca.
    #[arg(long, global = true)]
    tls: bool,
    /// CA certificate(s), PEM, that server certificates must chain to,
    /// instead of the system's store (implies --tls).
    #[arg(long, global = true, value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// Dangerous: accept any server certificate, unverified (implies --tls).
    #[arg(long, global = true)]
    tls_insecure: bool,
    /// Client certificate chain, PEM, leaf first, for servers that require
    /// one (`tls.server.need.client.auth=require`; needs --tls-key;
    /// implies --tls).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The client certificate's private key, PEM, unencrypted (PKCS#8,
    /// PKCS#1 or SEC1; needs --tls-cert).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

/// The TLS settings of this run (set once, from the command line).
static TLS: std::sync::OnceLock<Option<rmq::TlsConfig>> = std::sync::OnceLock::new();

/// The TLS settings of `--tls`, `--tls-ca`, `--tls-insecure`, `--tls-cert`
/// and `--tls-key`.
fn tls_from(cli: &Cli) -> Result<Option<rmq::TlsConfig>, String> {
    if !(cli.tls || cli.tls_ca.is_some() || cli.tls_insecure || cli.tls_cert.is_some()) {
        return Ok(None);
    }
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
    };
    let mut tls = rmq::TlsConfig::new();
    if let Some(path) = &cli.tls_ca {
        tls = tls.ca_pem(read("--tls-ca", path)?);
    }
    if cli.tls_insecure {
        tls = tls.insecure_skip_verify();
    }
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        tls = tls.client_certificate(read("--tls-cert", cert)?, read("--tls-key", key)?);
    }
    Ok(Some(tls))
}

/// This run's TLS settings, if any.
fn tls() -> Option<rmq::TlsConfig> {
    TLS.get().cloned().flatten()
}

/// An admin client of `namesrv`, with this run's TLS settings.
async fn connect_admin(namesrv: &str) -> Result<Admin, String> {
    Admin::connect_with_tls(namesrv, None, tls())
        .await
        .map_err(|e| e.to_string())
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send one message and print the broker's acknowledgement.
    Send {
        /// Topic.
        #[arg(long, short)]
        topic: String,
        /// Tag.
        #[arg(long)]
        tag: Option<String>,
        /// Key (repeatable).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// User property `name=value` (repeatable).
        #[arg(long = "prop")]
        props: Vec<String>,
        /// Delay level 1-18 (1s 5s 10s 30s 1m 2m … 2h).
        #[arg(long, conflicts_with = "deliver_at")]
        delay_level: Option<u8>,
        /// Deliver at this Unix time in milliseconds (5.x timer messages).
        #[arg(long)]
        deliver_at: Option<i64>,
        /// Producer group.
        #[arg(long, default_value = "rmq_cli")]
        group: String,
        /// The body, or `-` to read standard input.
        body: String,
    },
    /// Print the route of a topic.
    Route {
        /// Topic.
        topic: String,
    },
    /// Consume messages in a consumer group and print one line per message
    /// as it arrives; Ctrl-C (or SIGTERM) stops cleanly, committing offsets.
    Consume {
        /// Consumer group.
        #[arg(long, short)]
        group: String,
        /// Topic.
        #[arg(long, short)]
        topic: String,
        /// Tag expression: `TagA`, `TagA || TagB` (default: every message).
        #[arg(long, conflicts_with = "sql")]
        filter: Option<String>,
        /// SQL92 expression over properties (the broker must run with
        /// `enablePropertyFilter=true`).
        #[arg(long)]
        sql: Option<String>,
        /// Where a group with no committed offset starts: `first`, `last`,
        /// a Unix time in ms, or `YYYY-MM-DDTHH:MM:SSZ` (UTC). A group that
        /// committed offsets resumes from them.
        #[arg(long, default_value = "last", value_parser = parse_consume_from)]
        from: ConsumeFrom,
        /// Broadcasting: every consumer of the group gets every message.
        #[arg(long)]
        broadcast: bool,
        /// Exit after this many messages.
        #[arg(long, value_parser = parse_count)]
        count: Option<u64>,
        /// One JSON object per line (bodies that are not UTF-8 in base64,
        /// with `"bodyBase64":true`).
        #[arg(long)]
        json: bool,
    },
    /// Create, delete or list topics.
    Topic {
        #[command(subcommand)]
        action: admin_cli::TopicCmd,
    },
    /// Print every cluster and broker: addresses, versions, TPS.
    Cluster {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// A consumer group's progress (lag per queue), members, or offset reset.
    Group {
        #[command(subcommand)]
        action: admin_cli::GroupCmd,
    },
    /// Find messages by id (unique or offset id) or by key, on every broker
    /// of the topic.
    Query(admin_cli::QueryArgs),
    /// Print a message's trace: its send and every delivery and consume
    /// result, from the trace topic (clients with trace enabled write it).
    Trace(admin_cli::TraceArgs),
    /// Print a consumer group's committed offset, the max offset and the
    /// lag of every queue of a topic.
    Offsets {
        /// Consumer group.
        #[arg(long, short)]
        group: String,
        /// Topic.
        #[arg(long, short)]
        topic: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RMQ_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rmq: {e}");
            ExitCode::from(admin_cli::exit_code(&e))
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let _ = TLS.set(tls_from(&cli)?);
    match cli.command {
        Cmd::Send {
            topic,
            tag,
            keys,
            props,
            delay_level,
            deliver_at,
            group,
            body,
        } => {
            let body = if body == "-" {
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("reading standard input: {e}"))?;
                buf
            } else {
                body.into_bytes()
            };
            let mut msg = Message::new(topic, body);
            if let Some(tag) = tag {
                msg = msg.with_tags(tag);
            }
            if !keys.is_empty() {
                msg = msg.with_keys(keys);
            }
            for p in props {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| format!("--prop {p}: expected name=value"))?;
                msg.put_user_property(k, v)
                    .map_err(|e| format!("--prop {p}: {e}"))?;
            }
            if let Some(level) = delay_level {
                msg = msg.with_delay_level(level);
            }
            if let Some(at) = deliver_at {
                msg = msg.with_deliver_at(at);
            }
            let mut builder = Producer::builder().name_server(&cli.namesrv).group(group);
            if let Some(tls) = tls() {
                builder = builder.tls(tls);
            }
            let producer = builder.build().map_err(|e| e.to_string())?;
            producer.start().await.map_err(|e| e.to_string())?;
            let result = producer.send(msg).await;
            let _ = producer.shutdown().await;
            let r = result.map_err(|e| e.to_string())?;
            println!(
                "status={:?} msgId={} offsetMsgId={} broker={} queue={} queueOffset={}",
                r.status,
                r.msg_id,
                r.offset_msg_id,
                r.queue.broker_name,
                r.queue.queue_id,
                r.queue_offset
            );
            Ok(())
        }
        Cmd::Route { topic } => {
            let admin = connect_admin(&cli.namesrv).await?;
            let route = admin.topic_route(&topic).await;
            let _ = admin.shutdown().await;
            let route = route.map_err(|e| e.to_string())?;
            for b in &route.broker_datas {
                for (id, addr) in &b.broker_addrs {
                    println!(
                        "broker {} id={} addr={} cluster={}",
                        b.broker_name, id, addr, b.cluster
                    );
                }
            }
            for q in &route.queue_datas {
                println!(
                    "queues {} read={} write={} perm={}",
                    q.broker_name, q.read_queue_nums, q.write_queue_nums, q.perm
                );
            }
            Ok(())
        }
        Cmd::Consume {
            group,
            topic,
            filter,
            sql,
            from,
            broadcast,
            count,
            json,
        } => {
            let selector = match (filter, sql) {
                (_, Some(sql)) => Selector::sql(sql),
                (Some(tags), None) => Selector::tag(tags),
                (None, None) => Selector::all(),
            };
            let model = if broadcast {
                MessageModel::Broadcasting
            } else {
                MessageModel::Clustering
            };
            let args = ConsumeArgs {
                group,
                topic,
                selector,
                from,
                model,
                count,
                json,
            };
            consume(&cli.namesrv, args).await
        }
        Cmd::Offsets { group, topic } => offsets(&cli.namesrv, &group, &topic).await,
        Cmd::Topic { action } => admin_cli::topic(&cli.namesrv, action).await,
        Cmd::Cluster { json } => admin_cli::cluster(&cli.namesrv, json).await,
        Cmd::Group { action } => admin_cli::group(&cli.namesrv, action).await,
        Cmd::Query(args) => admin_cli::query(&cli.namesrv, args).await,
        Cmd::Trace(args) => admin_cli::trace(&cli.namesrv, args).await,
    }
}

// ----- consume ----------------------------------------------------------------

/// How long `offsets` waits for each broker answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct ConsumeArgs {
    group: String,
    topic: String,
    selector: Selector,
    from: ConsumeFrom,
    model: MessageModel,
    count: Option<u64>,
    json: bool,
}

/// Why `consume` stops.
#[derive(Debug)]
enum Stop {
    /// SIGINT or SIGTERM.
    Signal,
    /// `--count` messages were printed.
    Count,
    /// Standard output was closed (`rmq consume | head`): a clean stop.
    Closed,
    /// Writing standard output failed otherwise.
    Output(std::io::Error),
}

async fn consume(namesrv: &str, args: ConsumeArgs) -> Result<(), String> {
    // Installed first: a signal from now on stops cleanly, never kills.
    let mut signals = Signals::install()?;
    validate_group(&args.group).map_err(|e| e.to_string())?;
    validate_topic(&args.topic).map_err(|e| e.to_string())?;
    let mut builder = PushConsumer::builder()
        .name_server(namesrv)
        .group(args.group.as_str())
        .model(args.model)
        .consume_from(args.from)
        // One handler at a time, one message each: lines come out in
        // queue order and `--count` is exact.
        .threads(1)
        .batch_size(1);
    if let Some(tls) = tls() {
        builder = builder.tls(tls);
    }
    let consumer = builder.build().map_err(|e| e.to_string())?;
    let admin = connect_admin(namesrv).await?;
    // The route names the brokers (a stored message carries only the
    // broker's address) and says early, clearly, that a topic is missing.
    let route = match admin.topic_route(&args.topic).await {
        Ok(route) => route,
        Err(e) => {
            let _ = admin.shutdown().await;
            return Err(e.to_string());
        }
    };
    let (stop_tx, mut stop_rx) = mpsc::unbounded_channel();
    let (stopping_tx, _) = watch::channel(false);
    let printer = Arc::new(Printer {
        topic: args.topic.clone(),
        json: args.json,
        limit: args.count,
        printed: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        brokers: Mutex::new(broker_names(&route)),
        refreshed: Mutex::new(Vec::new()),
        admin: admin.clone(),
        stop: stop_tx,
        stopping: stopping_tx,
    });
    let handler_printer = Arc::clone(&printer);
    let subscribed = consumer.subscribe(&args.topic, args.selector, move |msgs| {
        let printer = Arc::clone(&handler_printer);
        async move { printer.handle(msgs).await }
    });
    let started = match subscribed {
        Ok(()) => consumer.start().await,
        Err(e) => Err(e),
    };
    if let Err(e) = started {
        let _ = consumer.shutdown().await;
        let _ = admin.shutdown().await;
        return Err(e.to_string());
    }
    let stop = tokio::select! {
        () = signals.recv() => Stop::Signal,
        stop = stop_rx.recv() => stop.unwrap_or(Stop::Signal),
    };
    // A second signal while shutting down does not wait for it.
    tokio::spawn(async move {
        signals.recv().await;
        eprintln!("rmq: interrupted again, exiting without a clean shutdown");
        std::process::exit(130);
    });
    printer.stopping.send_replace(true);
    let shut = consumer.shutdown().await;
    let _ = admin.shutdown().await;
    shut.map_err(|e| format!("shutting down the consumer: {e}"))?;
    match stop {
        Stop::Signal | Stop::Count | Stop::Closed => Ok(()),
        Stop::Output(e) => Err(format!("writing standard output: {e}")),
    }
}

/// Prints deliveries, counts them, and says when to stop.
struct Printer {
    topic: String,
    json: bool,
    limit: Option<u64>,
    printed: AtomicU64,
    /// Standard output failed: print nothing more.
    closed: AtomicBool,
    /// Broker address (`host:port`) to broker name.
    brokers: Mutex<HashMap<String, String>>,
    /// Addresses the route was refreshed for already.
    refreshed: Mutex<Vec<String>>,
    admin: Admin,
    stop: mpsc::UnboundedSender<Stop>,
    /// Set once the consumer is shutting down.
    stopping: watch::Sender<bool>,
}

impl Printer {
    fn done(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
            || self
                .limit
                .is_some_and(|n| self.printed.load(Ordering::SeqCst) >= n)
    }

    async fn handle(&self, msgs: Vec<MessageExt>) -> ConsumeResult {
        if self.done() {
            // Past `--count` (or stdout is gone) while the consumer stops: a
            // message nobody printed goes back to the group for a later
            // delivery, never counted as consumed. Held until the shutdown
            // begins, so a backlog is not sent back wholesale.
            let mut stopping = self.stopping.subscribe();
            let _ = stopping.wait_for(|s| *s).await;
            return ConsumeResult::RETRY;
        }
        let mut acked = 0;
        for m in &msgs {
            if self.done() {
                break;
            }
            let broker = self.broker_of(m).await;
            let mut line = if self.json {
                json_line(m, &broker)
            } else {
                plain_line(m, &broker)
            };
            line.push('\n');
            let written = {
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes()).and_then(|()| out.flush())
            };
            if let Err(e) = written {
                self.closed.store(true, Ordering::SeqCst);
                let stop = if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Stop::Closed
                } else {
                    Stop::Output(e)
                };
                let _ = self.stop.send(stop);
                break;
            }
            acked += 1;
            let printed = self.printed.fetch_add(1, Ordering::SeqCst) + 1;
            if self.limit == Some(printed) {
                let _ = self.stop.send(Stop::Count);
            }
        }
        if acked == msgs.len() {
            ConsumeResult::Success
        } else {
            ConsumeResult::RetryLater {
                acked,
                delay_level: 0,
            }
        }
    }

    /// The name of the broker that stored `m`, from its store address.
    async fn broker_of(&self, m: &MessageExt) -> String {
        let addr = m.store_host.to_string();
        if let Some(name) = self.lookup(&addr) {
            return name;
        }
        let first_miss = {
            let mut refreshed = self.refreshed.lock().unwrap_or_else(|e| e.into_inner());
            let first = !refreshed.contains(&addr);
            if first {
                refreshed.push(addr.clone());
            }
            first
        };
        if first_miss {
            // A broker that joined the topic since the start.
            if let Ok(route) = self.admin.topic_route(&self.topic).await {
                let mut brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
                brokers.extend(broker_names(&route));
            }
            if let Some(name) = self.lookup(&addr) {
                return name;
            }
        }
        // The broker stores under an address the route does not list
        // (brokerIP1 behind NAT, say): name it if it is the only one.
        let brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        let mut names = brokers.values();
        match names.next() {
            Some(first) if names.all(|n| n == first) => first.clone(),
            _ => addr,
        }
    }

    fn lookup(&self, addr: &str) -> Option<String> {
        let brokers = self.brokers.lock().unwrap_or_else(|e| e.into_inner());
        brokers.get(addr).cloned()
    }
}

/// Every broker address of the route, to its broker name.
fn broker_names(route: &TopicRouteData) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for b in &route.broker_datas {
        for addr in b.broker_addrs.values() {
            names.insert(addr.clone(), b.broker_name.clone());
        }
    }
    names
}

/// `topic=… queue=broker:id offset=… msgId=… tags=… keys=… body=…`, the
/// body as lossy UTF-8 with CR and LF written `\r` and `\n`, so one message
/// is one line.
fn plain_line(m: &MessageExt, broker: &str) -> String {
    let keys: Vec<&str> = m.message.keys().collect();
    let keys = if keys.is_empty() {
        "-".to_string()
    } else {
        keys.join(",")
    };
    let body = String::from_utf8_lossy(m.body())
        .replace('\r', "\\r")
        .replace('\n', "\\n");
    format!(
        "topic={} queue={}:{} offset={} msgId={} tags={} keys={} body={}",
        m.topic(),
        broker,
        m.queue_id,
        m.queue_offset,
        m.id(),
        m.tags().unwrap_or("-"),
        keys,
        body
    )
}

/// One JSON object: topic, queue, offset, msgId, tags, keys, properties and
/// the body (a string, or base64 with `"bodyBase64":true`).
fn json_line(m: &MessageExt, broker: &str) -> String {
    let mut out = String::with_capacity(256 + m.body().len() * 2);
    out.push_str("{\"topic\":");
    json_string(&mut out, m.topic());
    out.push_str(",\"queue\":{\"broker\":");
    json_string(&mut out, broker);
    out.push_str(&format!(
        ",\"queueId\":{}}},\"offset\":{},\"msgId\":",
        m.queue_id, m.queue_offset
    ));
    json_string(&mut out, m.id());
    out.push_str(",\"tags\":");
    match m.tags() {
        Some(tags) => json_string(&mut out, tags),
        None => out.push_str("null"),
    }
    out.push_str(",\"keys\":[");
    for (i, key) in m.message.keys().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, key);
    }
    out.push_str("],\"properties\":{");
    for (i, (name, value)) in m.message.properties.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, name);
        out.push(':');
        json_string(&mut out, value);
    }
    out.push_str("},\"body\":");
    match std::str::from_utf8(m.body()) {
        Ok(body) => json_string(&mut out, body),
        Err(_) => {
            out.push('"');
            out.push_str(&base64(m.body()));
            out.push_str("\",\"bodyBase64\":true");
        }
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // Control characters, and the two separators JavaScript does
            // not allow unescaped in string literals.
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 (RFC 4648 §4) with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `--count`: a positive number.
fn parse_count(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a positive number")),
    }
}

/// `--from`: `first`, `last`, Unix ms, or `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn parse_consume_from(s: &str) -> Result<ConsumeFrom, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("first") {
        return Ok(ConsumeFrom::First);
    }
    if t.eq_ignore_ascii_case("last") {
        return Ok(ConsumeFrom::Last);
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map(ConsumeFrom::Timestamp)
            .map_err(|_| format!("{t}: Unix time in ms out of range"));
    }
    parse_utc(t).map(ConsumeFrom::Timestamp).map_err(|why| {
        format!("{why}; expected first, last, a Unix time in ms, or YYYY-MM-DDTHH:MM:SSZ (UTC)")
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (`T` or a space; UTC only) to Unix ms.
fn parse_utc(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    let fields = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    );
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = fields
    else {
        return Err(format!("{s:?} is not a time"));
    };
    if !shape {
        return Err(format!("{s:?} is not a time"));
    }
    // Optional fraction, then Z.
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{s:?}: no digits after '.'"));
        }
        for (i, d) in frac.bytes().take(digits).enumerate() {
            if i < 3 {
                millis += i64::from(d - b'0') * [100, 10, 1][i];
            }
        }
        rest = &frac[digits..];
    }
    if !rest.eq_ignore_ascii_case("z") {
        return Err(format!("{s:?}: only UTC times ending in Z are accepted"));
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day == 0 || day > month_days[month as usize - 1] {
        return Err(format!("{s:?}: no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("{s:?}: no such time of day"));
    }
    if year < 1970 {
        return Err(format!("{s:?}: before 1970"));
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Ok(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), listened to from `install` on.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen =
                |kind| signal(kind).map_err(|e| format!("installing signal handlers: {e}"));
            Ok(Signals {
                interrupt: listen(SignalKind::interrupt())?,
                terminate: listen(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

// ----- offsets ----------------------------------------------------------------

/// One queue's line of `offsets`.
struct OffsetRow {
    queue: MessageQueue,
    committed: Option<i64>,
    max: i64,
}

async fn offsets(namesrv: &str, group: &str, topic: &str) -> Result<(), String> {
    validate_group(group).map_err(|e| e.to_string())?;
    let admin = connect_admin(namesrv).await?;
    let rows = offset_rows(&admin, group, topic).await;
    let _ = admin.shutdown().await;
    let rows = rows?;

    let cell = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut table = vec![[
        "BROKER".to_string(),
        "QUEUE".to_string(),
        "COMMITTED".to_string(),
        "MAX".to_string(),
        "LAG".to_string(),
    ]];
    let (mut committed, mut max, mut lag) = (0i64, 0i64, 0i64);
    for r in &rows {
        let row_lag = r.committed.map(|c| (r.max - c).max(0));
        committed += r.committed.unwrap_or(0);
        max += r.max;
        lag += row_lag.unwrap_or(0);
        table.push([
            r.queue.broker_name.clone(),
            r.queue.queue_id.to_string(),
            cell(r.committed),
            r.max.to_string(),
            cell(row_lag),
        ]);
    }
    table.push([
        "TOTAL".to_string(),
        String::new(),
        committed.to_string(),
        max.to_string(),
        lag.to_string(),
    ]);
    let mut widths = [0usize; 5];
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for row in &table {
        let line = format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

async fn offset_rows(admin: &Admin, group: &str, topic: &str) -> Result<Vec<OffsetRow>, String> {
    let route = admin.topic_route(topic).await.map_err(|e| e.to_string())?;
    let table = RouteTable::new(topic, &route);
    let mut rows = Vec::new();
    for mq in table.subscribe_queues() {
        let addr = table
            .master_addr(&mq.broker_name)
            .ok_or_else(|| format!("broker {} has no master", mq.broker_name))?;
        let committed = query_committed(admin, addr, group, mq).await?;
        let max = query_max(admin, addr, mq).await?;
        rows.push(OffsetRow {
            queue: mq.clone(),
            committed,
            max,
        });
    }
    Ok(rows)
}

/// The group's committed offset of `mq`; `None` when it has none.
async fn query_committed(
    admin: &Admin,
    addr: &str,
    group: &str,
    mq: &MessageQueue,
) -> Result<Option<i64>, String> {
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        set_zero_if_not_found: Some(false),
        rpc: RpcHeaderExtras::with_broker_name(mq.broker_name.as_str()),
    };
    let cmd = RemotingCommand::request(request_code::QUERY_CONSUMER_OFFSET, 0).with_header(&header);
    let resp = broker_request(admin, addr, mq, cmd, "QUERY_CONSUMER_OFFSET").await?;
    match resp.code {
        response_code::SUCCESS => {
            let h: QueryConsumerOffsetResponseHeader = resp
                .header()
                .map_err(|e| format!("broker {}: QUERY_CONSUMER_OFFSET: {e}", mq.broker_name))?;
            Ok((h.offset >= 0).then_some(h.offset))
        }
        response_code::QUERY_NOT_FOUND => Ok(None),
        _ => Err(refused(&resp, mq, "QUERY_CONSUMER_OFFSET")),
    }
}

/// The next offset `mq` will write.
async fn query_max(admin: &Admin, addr: &str, mq: &MessageQueue) -> Result<i64, String> {
    let header = GetMaxOffsetRequestHeader {
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        committed: Some(true),
        rpc: RpcHeaderExtras::with_broker_name(mq.broker_name.as_str()),
    };
    let cmd = RemotingCommand::request(request_code::GET_MAX_OFFSET, 0).with_header(&header);
    let resp = broker_request(admin, addr, mq, cmd, "GET_MAX_OFFSET").await?;
    if resp.code != response_code::SUCCESS {
        return Err(refused(&resp, mq, "GET_MAX_OFFSET"));
    }
    let h: GetMaxOffsetResponseHeader = resp
        .header()
        .map_err(|e| format!("broker {}: GET_MAX_OFFSET: {e}", mq.broker_name))?;
    Ok(h.offset)
}

async fn broker_request(
    admin: &Admin,
    addr: &str,
    mq: &MessageQueue,
    cmd: RemotingCommand,
    what: &str,
) -> Result<RemotingCommand, String> {
    admin
        .request(Some(addr), cmd, REQUEST_TIMEOUT)
        .await
        .map_err(|e| format!("broker {} ({addr}): {what}: {e}", mq.broker_name))
}

fn refused(resp: &RemotingCommand, mq: &MessageQueue, what: &str) -> String {
    format!(
        "broker {} answered {what} for queue {} with code {}: {}",
        mq.broker_name,
        mq.queue_id,
        resp.code,
        resp.remark.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_accepts_first_last_millis_and_utc_times() {
        assert_eq!(parse_consume_from("first"), Ok(ConsumeFrom::First));
        assert_eq!(parse_consume_from("LAST"), Ok(ConsumeFrom::Last));
        assert_eq!(
            parse_consume_from("1700000000000"),
            Ok(ConsumeFrom::Timestamp(1_700_000_000_000))
        );
        let at = |s| parse_consume_from(s).unwrap();
        assert_eq!(at("1970-01-01T00:00:00Z"), ConsumeFrom::Timestamp(0));
        assert_eq!(
            at("2023-11-14T22:13:20Z"),
            ConsumeFrom::Timestamp(1_700_000_000_000)
        );
        assert_eq!(
            at("2024-02-29 12:34:56.789z"),
            ConsumeFrom::Timestamp(1_709_210_096_789)
        );
        assert_eq!(
            at("2000-03-01T00:00:00.5Z"),
            ConsumeFrom::Timestamp(951_868_800_500)
        );
    }

    #[test]
    fn from_rejects_what_is_not_a_utc_time() {
        for bad in [
            "",
            "yesterday",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+02:00",
            "2024-01-01T00:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2024-1-01T00:00:00Z",
            "99999999999999999999",
        ] {
            assert!(parse_consume_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x41]), "//4AQQ==");
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\te\u{1}f\u{7f}\u{2028}é✓");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\te\\u0001f\\u007f\\u2028é✓\"");
    }

    #[test]
    fn lines_show_every_field_and_base64_for_binary_bodies() {
        let mut m = MessageExt::from_message(
            Message::new("T", b"line1\nline2".to_vec())
                .with_tags("TagA")
                .with_keys(["k1", "k2"]),
        );
        m.queue_id = 2;
        m.queue_offset = 7;
        m.msg_id = "ID".into();
        assert_eq!(
            plain_line(&m, "broker-a"),
            "topic=T queue=broker-a:2 offset=7 msgId=ID tags=TagA keys=k1,k2 body=line1\\nline2"
        );
        let json = json_line(&m, "broker-a");
        assert!(
            json.starts_with(
                "{\"topic\":\"T\",\"queue\":{\"broker\":\"broker-a\",\"queueId\":2},\
                 \"offset\":7,\"msgId\":\"ID\",\"tags\":\"TagA\",\"keys\":[\"k1\",\"k2\"],\
                 \"properties\":{"
            ),
            "{json}"
        );
        assert!(json.ends_with(",\"body\":\"line1\\nline2\"}"), "{json}");

        let bare = MessageExt::from_message(Message::new("T", vec![0xffu8, 0x00]));
        assert_eq!(
            plain_line(&bare, "b"),
            "topic=T queue=b:0 offset=0 msgId= tags=- keys=- body=\u{fffd}\u{0}"
        );
        let json = json_line(&bare, "b");
        assert!(json.contains("\"tags\":null,\"keys\":[]"), "{json}");
        assert!(
            json.ends_with("\"body\":\"/wA=\",\"bodyBase64\":true}"),
            "{json}"
        );
    }
}
