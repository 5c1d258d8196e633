//! The soak: a bounded run of one producer and a consumer group under
//! random consumer restarts and one broker crash, checking that nothing
//! acknowledged is lost and that the process's resources stay flat.
//!
//! ```text
//! cargo xtask soak --minutes 10 [--seed 42]        # the usual way
//! cargo run -p rmq-tests --example rmq_soak -- --minutes 1.5 [--seed S]
//!     [--rate 200] [--consumers 3] [--body-bytes 512] [--sample-secs 5]
//!     [--namesrv HOST:PORT]   # someone else's cluster: no broker restart
//! ```
//!
//! Without `--namesrv` it starts its own RocketMQ 5.x cluster (one name
//! server, `broker-a` and `broker-b`, `SYNC_FLUSH` so an acknowledged
//! message is on disk) through the harness, and kills it at the end (also
//! on Ctrl-C / SIGTERM). In one process, one tokio runtime:
//!
//! - one producer sends `--rate` messages/s from a fixed pool of sender
//!   tasks (so at most that many sends are in flight), each body carrying
//!   its sequence number;
//! - `--consumers` push consumers of one group; each is shut down and
//!   replaced by a new instance at seeded-random times (`--seed`);
//! - `broker-a` is SIGKILLed near the middle and started again 5 s later;
//! - every sample (`--sample-secs`) records the process's RSS (VmRSS), its
//!   open sockets (`/proc/self/fd` → `socket:`), tokio's alive tasks and
//!   the sent / acknowledged / consumed counts.
//!
//! Twice the producer pauses until everything acknowledged is consumed and
//! the process is quiet ("quiet points"): after the warm-up (the baseline)
//! and after the run. At the end it prints a table and a verdict, and exits
//! 1 when any check fails:
//!
//! - lost = 0: every acknowledged message was consumed (bounded wait);
//! - no send outlived its deadline by 2 s; no consumer start or shutdown
//!   failed or hung; the producer was acknowledged after the broker restart;
//! - RSS flat: the last third's peak exceeds the first third's (after the
//!   warm-up) by less than [`RSS_GROWTH_MIB`] MiB or [`RSS_GROWTH_PCT`] %;
//! - sockets and tasks at the final quiet point within ±[`COUNT_TOLERANCE`]
//!   of the baseline quiet point (same clients, all restarts over);
//! - after every client shut down: no socket open and no task alive but
//!   the soak's own.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmq::rmq_core::protocol::headers::{CreateTopicRequestHeader, TopicFilterType};
use rmq::rmq_core::protocol::{request_code, response_code, RemotingCommand};
use rmq::{Admin, ConsumeFrom, ConsumeResult, Message, Producer, PushConsumer, RouteTable};
use rmq::{MessageExt, Selector};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
use tokio::sync::{watch, Semaphore};

/// RSS may grow by this many MiB from the first third to the last: about
/// twice the largest legitimate transient, the consumers' flow-control
/// caches (8 queues × 1000 messages × 512 B ≈ 4 MiB) plus allocator slack …
const RSS_GROWTH_MIB: f64 = 10.0;
/// … or by this share of the first third's peak, whichever is larger.
const RSS_GROWTH_PCT: f64 = 25.0;
/// Sockets and tasks at the final quiet point may differ from the
/// baseline's by this much.
const COUNT_TOLERANCE: i64 = 2;
/// Sender tasks of the producer: the bound on sends in flight.
const SENDERS: usize = 8;
/// The producer's deadline per send (all attempts).
const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// A send this much past its deadline is a hang.
const HANG_MARGIN: Duration = Duration::from_secs(2);
/// Queues per broker of the soak's topic.
const QUEUES: i32 = 4;
/// How long a quiet point may wait for the consumers to catch up.
const QUIET_WAIT: Duration = Duration::from_secs(30);
/// How long the end may wait for every acknowledged message.
const SETTLE_WAIT: Duration = Duration::from_secs(120);
/// A consumer's shutdown this slow is a hang.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);
/// How long broker-a stays down.
const BROKER_DOWN: Duration = Duration::from_secs(5);
/// The broker killed and restarted.
const VICTIM: &str = "broker-a";
/// The soak's second broker.
const BROKER_B: &str = "broker-b";
/// Most table rows printed (a long soak prints every k-th sample, and every
/// sample with an event).
const TABLE_ROWS: usize = 30;

// ----- options ---------------------------------------------------------------------

/// The command line.
#[derive(Debug, Clone)]
struct Options {
    /// Traffic time (the cluster start and the final checks come on top).
    run: Duration,
    seed: u64,
    rate: u32,
    consumers: usize,
    body_bytes: usize,
    sample_every: Duration,
    namesrv: Option<String>,
}

fn usage() -> &'static str {
    "usage: rmq_soak --minutes N [--seed S] [--rate MSGS_PER_SEC] [--consumers N] \
     [--body-bytes N] [--sample-secs N] [--namesrv HOST:PORT]"
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument `{arg}`"));
        };
        let (flag, value) = match flag.split_once('=') {
            Some((f, v)) => (f.to_string(), v.to_string()),
            None => {
                let v = it.next().ok_or_else(|| format!("--{flag} needs a value"))?;
                (flag.to_string(), v.clone())
            }
        };
        let known = [
            "minutes",
            "seed",
            "rate",
            "consumers",
            "body-bytes",
            "sample-secs",
            "namesrv",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown flag --{flag}"));
        }
        values.insert(flag, value);
    }
    fn number<T: std::str::FromStr>(
        values: &BTreeMap<String, String>,
        flag: &str,
        default: T,
    ) -> Result<T, String> {
        values.get(flag).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("--{flag}: `{v}` is not a valid number"))
        })
    }
    let minutes: f64 = number(&values, "minutes", 2.0)?;
    if !(0.5..=24.0 * 60.0).contains(&minutes) {
        return Err(format!(
            "--minutes {minutes}: give 0.5 to 1440 (the cluster start comes on top)"
        ));
    }
    let run = Duration::from_secs_f64(minutes * 60.0);
    let default_seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let rate: u32 = number(&values, "rate", 200)?;
    let consumers: usize = number(&values, "consumers", 3)?;
    let body_bytes: usize = number(&values, "body-bytes", 512)?;
    let default_sample = if run <= Duration::from_secs(300) {
        5
    } else {
        10
    };
    let sample_secs: u64 = number(&values, "sample-secs", default_sample)?;
    if !(1..=10_000).contains(&rate) {
        return Err(format!("--rate {rate}: give 1 to 10000 messages/s"));
    }
    if !(1..=16).contains(&consumers) {
        return Err(format!("--consumers {consumers}: give 1 to 16"));
    }
    if !(32..=1 << 20).contains(&body_bytes) {
        return Err(format!("--body-bytes {body_bytes}: give 32 to 1048576"));
    }
    if sample_secs == 0 || Duration::from_secs(sample_secs) * 3 > run {
        return Err(format!(
            "--sample-secs {sample_secs}: give at least 1 and at most a third of the run"
        ));
    }
    Ok(Options {
        run,
        seed: number(&values, "seed", default_seed)?,
        rate,
        consumers,
        body_bytes,
        sample_every: Duration::from_secs(sample_secs),
        namesrv: values.get("namesrv").cloned(),
    })
}

// ----- seeded randomness ------------------------------------------------------------------

/// SplitMix64: small, seedable, good enough for a schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration uniformly in `[low, high]`.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = high.saturating_sub(low).as_millis() as u64;
        low + Duration::from_millis(self.next() % (span + 1))
    }
}

// ----- the ledger -------------------------------------------------------------------------

/// A growable bit set over sequence numbers: one bit per message, so a
/// long soak's bookkeeping does not itself look like a leak.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    /// Sets bit `i`; true when it was set before.
    fn set(&mut self, i: u64) -> bool {
        let (word, bit) = ((i / 64) as usize, i % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let was = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        was
    }

    fn word(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    /// Bits set here and not in `other`, and the first such index.
    fn minus(&self, other: &Bits) -> (u64, Option<u64>) {
        let mut count = 0;
        let mut first = None;
        for (i, w) in self.0.iter().enumerate() {
            let only = w & !other.word(i);
            if only != 0 {
                count += u64::from(only.count_ones());
                first = first.or(Some(i as u64 * 64 + u64::from(only.trailing_zeros())));
            }
        }
        (count, first)
    }
}

/// What was sent, acknowledged and consumed.
#[derive(Default)]
struct Ledger {
    acked: Bits,
    consumed: Bits,
    acked_count: u64,
    /// Distinct messages consumed.
    consumed_count: u64,
    /// Deliveries of a message already consumed (at-least-once redelivery).
    redelivered: u64,
    /// Deliveries whose body is not one of the soak's.
    foreign: u64,
}

/// Shared by every task.
struct Shared {
    ledger: Mutex<Ledger>,
    next_seq: AtomicU64,
    send_errors: AtomicU64,
    hung_sends: AtomicU64,
    in_flight: AtomicUsize,
    first_errors: Mutex<Vec<String>>,
    /// Events since the last sample, for the table's note column.
    events: Mutex<Vec<String>>,
    /// Failures that decide the verdict, besides the measured ones.
    failures: Mutex<Vec<String>>,
    started: Instant,
}

impl Shared {
    fn event(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!(
            "[soak] {:>6.1}s {what}",
            self.started.elapsed().as_secs_f64()
        );
        lock(&self.events).push(what);
    }

    fn fail(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("[soak] FAILURE: {what}");
        lock(&self.failures).push(what);
    }

    fn counts(&self) -> (u64, u64, u64) {
        let l = lock(&self.ledger);
        (
            self.next_seq.load(Ordering::SeqCst),
            l.acked_count,
            l.consumed_count,
        )
    }

    /// Acknowledged but (not yet) consumed: how many, and the first.
    fn missing(&self) -> (u64, Option<u64>) {
        let l = lock(&self.ledger);
        l.acked.minus(&l.consumed)
    }
}

/// Locks, surviving a poisoned mutex (a panicking task must not hide the
/// measurements).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn body(seq: u64, size: usize) -> Vec<u8> {
    let mut b = format!("soak-{seq:012}-").into_bytes();
    b.resize(size.max(b.len()), b'x');
    b
}

fn seq_of(body: &[u8]) -> Option<u64> {
    let rest = body.strip_prefix(b"soak-")?;
    let digits = rest.get(..12)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

// ----- measurements ------------------------------------------------------------------------

/// One row of the table.
#[derive(Debug, Clone)]
struct Sample {
    secs: f64,
    rss_kib: u64,
    sockets: usize,
    tcp: usize,
    tasks: usize,
    sent: u64,
    acked: u64,
    consumed: u64,
    errors: u64,
    note: String,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The process's open sockets: all of them, and how many are TCP (their
/// inodes listed in `/proc/self/net/tcp` or `tcp6`).
fn open_sockets() -> (usize, usize) {
    let inodes: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            let target = target.to_string_lossy();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .collect();
    let mut tcp_inodes = std::collections::BTreeSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            if let Some(inode) = line.split_whitespace().nth(9) {
                tcp_inodes.insert(inode.to_string());
            }
        }
    }
    let tcp = inodes.iter().filter(|i| tcp_inodes.contains(*i)).count();
    (inodes.len(), tcp)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

fn sample(shared: &Shared, note: &str) -> Sample {
    let (sent, acked, consumed) = shared.counts();
    let mut notes: Vec<String> = std::mem::take(&mut *lock(&shared.events));
    if !note.is_empty() {
        notes.insert(0, note.to_string());
    }
    let (sockets, tcp) = open_sockets();
    Sample {
        secs: shared.started.elapsed().as_secs_f64(),
        rss_kib: rss_kib(),
        sockets,
        tcp,
        tasks: alive_tasks(),
        sent,
        acked,
        consumed,
        errors: shared.send_errors.load(Ordering::SeqCst),
        note: notes.join("; "),
    }
}

// ----- the producer ------------------------------------------------------------------------

/// Rate control: a ticker adds permits every 10 ms while not paused;
/// [`SENDERS`] tasks take one permit per send.
struct Traffic {
    permits: Arc<Semaphore>,
    paused: watch::Sender<bool>,
}

impl Traffic {
    /// Stops sending: no new permits, and those not yet taken withdrawn
    /// (after the ticker's last tick).
    async fn pause(&self) {
        let _ = self.paused.send(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let left = self.permits.available_permits() as u32;
        if let Ok(p) = self.permits.try_acquire_many(left) {
            p.forget();
        }
    }
}

fn start_producer(
    producer: Producer,
    topic: String,
    opts: &Options,
    shared: Arc<Shared>,
) -> (Traffic, Vec<tokio::task::JoinHandle<()>>) {
    let permits = Arc::new(Semaphore::new(0));
    let (paused, mut paused_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let rate = opts.rate;
    let ticker_permits = Arc::clone(&permits);
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut carry = 0u32; // hundredths of a message
        let cap = (rate / 10).max(1) as usize; // at most 100 ms of burst
        loop {
            tick.tick().await;
            if ticker_permits.is_closed() {
                return;
            }
            if *paused_rx.borrow_and_update() {
                continue;
            }
            carry += rate;
            let add = (carry / 100) as usize;
            carry %= 100;
            let room = cap.saturating_sub(ticker_permits.available_permits());
            ticker_permits.add_permits(add.min(room));
        }
    }));
    for _ in 0..SENDERS {
        let (p, topic, shared, permits) = (
            producer.clone(),
            topic.clone(),
            Arc::clone(&shared),
            Arc::clone(&permits),
        );
        let size = opts.body_bytes;
        tasks.push(tokio::spawn(async move {
            while let Ok(permit) = permits.acquire().await {
                permit.forget();
                let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst);
                shared.in_flight.fetch_add(1, Ordering::SeqCst);
                let send = p.send(Message::new(topic.as_str(), body(seq, size)));
                match tokio::time::timeout(SEND_TIMEOUT + HANG_MARGIN, send).await {
                    Ok(Ok(_)) => {
                        let mut l = lock(&shared.ledger);
                        l.acked.set(seq);
                        l.acked_count += 1;
                    }
                    Ok(Err(e)) => {
                        shared.send_errors.fetch_add(1, Ordering::SeqCst);
                        let mut first = lock(&shared.first_errors);
                        if first.len() < 5 {
                            first.push(format!("seq {seq}: {e}"));
                        }
                    }
                    Err(_) => {
                        shared.hung_sends.fetch_add(1, Ordering::SeqCst);
                    }
                }
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }));
    }
    (Traffic { permits, paused }, tasks)
}

// ----- the consumer group ------------------------------------------------------------------

/// Where the group's members are in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the baseline: no restarts.
    WarmUp,
    /// Members restart at random times.
    Churn,
    /// No more restarts; members keep consuming.
    Hold,
    /// Members shut down and end.
    Stop,
}

async fn start_member(
    namesrv: &str,
    group: &str,
    topic: &str,
    shared: &Arc<Shared>,
) -> Result<PushConsumer, rmq::Error> {
    let c = PushConsumer::builder()
        .name_server(namesrv)
        .group(group)
        .consume_from(ConsumeFrom::First)
        .client_config(|c| c.route_refresh_interval = Duration::from_secs(2))
        .config(|c| {
            c.rebalance_interval = Duration::from_secs(2);
            c.pull_suspend = Duration::from_secs(2);
            c.pull_backoff_on_error = Duration::from_millis(500);
        })
        .build()?;
    let shared = Arc::clone(shared);
    c.subscribe(topic, Selector::all(), move |msgs: Vec<MessageExt>| {
        let mut l = lock(&shared.ledger);
        for m in &msgs {
            match seq_of(m.body()) {
                Some(seq) if l.consumed.set(seq) => l.redelivered += 1,
                Some(_) => l.consumed_count += 1,
                None => l.foreign += 1,
            }
        }
        drop(l);
        std::future::ready(ConsumeResult::Success)
    })?;
    c.start().await?;
    Ok(c)
}

/// Who one member slot is and how long its instances live.
struct Slot {
    index: usize,
    namesrv: String,
    group: String,
    topic: String,
    rng: Rng,
    /// Each instance lives a uniform random time in this range.
    lifetime: (Duration, Duration),
}

/// One member slot: a consumer, shut down and replaced by a new instance
/// at seeded-random times while the phase is [`Phase::Churn`]; returns
/// how many times it restarted.
async fn member(slot: Slot, mut phase: watch::Receiver<Phase>, shared: Arc<Shared>) -> usize {
    let Slot {
        index,
        namesrv,
        group,
        topic,
        mut rng,
        lifetime,
    } = slot;
    let mut restarts = 0;
    loop {
        let mut consumer = None;
        for attempt in 1..=5 {
            match start_member(&namesrv, &group, &topic, &shared).await {
                Ok(c) => {
                    consumer = Some(c);
                    break;
                }
                Err(e) => {
                    eprintln!("[soak] consumer c{index} start attempt {attempt}: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        let Some(consumer) = consumer else {
            shared.fail(format!("consumer c{index} did not start in 5 attempts"));
            return restarts;
        };
        // Live until a random deadline counted from the start of the churn.
        while *phase.borrow_and_update() == Phase::WarmUp {
            if phase.changed().await.is_err() {
                break;
            }
        }
        let until = tokio::time::Instant::now() + rng.between(lifetime.0, lifetime.1);
        let restart = loop {
            let current = *phase.borrow_and_update();
            match current {
                Phase::Stop => break false,
                Phase::WarmUp | Phase::Churn if tokio::time::Instant::now() >= until => break true,
                Phase::WarmUp | Phase::Churn | Phase::Hold => {}
            }
            let deadline = if current == Phase::Hold {
                tokio::time::Instant::now() + Duration::from_secs(3600)
            } else {
                until
            };
            tokio::select! {
                changed = phase.changed() => if changed.is_err() { break false },
                _ = tokio::time::sleep_until(deadline) => {}
            }
        };
        let t0 = Instant::now();
        match tokio::time::timeout(SHUTDOWN_LIMIT, consumer.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => shared.fail(format!("consumer c{index} shutdown: {e}")),
            Err(_) => shared.fail(format!(
                "consumer c{index} shutdown outlived {SHUTDOWN_LIMIT:?}"
            )),
        }
        if !restart {
            return restarts;
        }
        restarts += 1;
        shared.event(format!(
            "c{index} restarted (shutdown {:.1}s)",
            t0.elapsed().as_secs_f64()
        ));
    }
}

// ----- the run -----------------------------------------------------------------------------

/// A quiet point: the producer paused, every acknowledged message consumed
/// (bounded), in-flight handlers given a moment; then one sample.
async fn quiet_point(shared: &Shared, traffic: &Traffic, label: &str) -> (Sample, bool) {
    traffic.pause().await;
    let start = Instant::now();
    let caught_up = loop {
        let (missing, _) = shared.missing();
        if missing == 0 && shared.in_flight.load(Ordering::SeqCst) == 0 {
            break true;
        }
        if start.elapsed() > QUIET_WAIT {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Handlers and acknowledgements of the last deliveries finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    (sample(shared, label), caught_up)
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await;
}

/// Runs `f` on the cluster off the runtime (JVMs take seconds).
async fn with_cluster<T: Send + 'static>(
    slot: &mut Option<Cluster>,
    f: impl FnOnce(&mut Cluster) -> T + Send + 'static,
) -> Option<T> {
    let mut cluster = slot.take()?;
    let (cluster, out) = tokio::task::spawn_blocking(move || {
        let out = f(&mut cluster);
        (cluster, out)
    })
    .await
    .ok()?;
    *slot = Some(cluster);
    Some(out)
}

/// Creates the topic with [`QUEUES`] queues on each master and waits until
/// the name server routes it on all of them.
async fn create_topic(admin: &Admin, topic: &str, brokers: &[String]) -> Result<(), String> {
    for addr in brokers {
        let header = CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: "TBW102".into(),
            read_queue_nums: QUEUES,
            write_queue_nums: QUEUES,
            perm: 6,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: Some(0),
            ..Default::default()
        };
        let cmd =
            RemotingCommand::request(request_code::UPDATE_AND_CREATE_TOPIC, 0).with_header(&header);
        let resp = admin
            .request(Some(addr), cmd, Duration::from_secs(5))
            .await
            .map_err(|e| format!("create {topic} on {addr}: {e}"))?;
        if resp.code != response_code::SUCCESS {
            return Err(format!("create {topic} on {addr}: code {}", resp.code));
        }
    }
    let start = Instant::now();
    loop {
        if let Ok(route) = admin.topic_route(topic).await {
            if RouteTable::new(topic, &route).broker_names().count() >= brokers.len() {
                return Ok(());
            }
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "the name server never routed {topic} on every broker"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The masters of the cluster behind `namesrv`.
async fn masters(admin: &Admin) -> Result<Vec<String>, String> {
    let route = admin
        .topic_route("TBW102")
        .await
        .map_err(|e| format!("route of TBW102: {e}"))?;
    Ok(route
        .broker_datas
        .iter()
        .filter_map(|b| b.master_addr().map(str::to_string))
        .collect())
}

/// What the run measured.
struct Outcome {
    samples: Vec<Sample>,
    baseline: Sample,
    last_quiet: Sample,
    /// (sockets, TCP sockets, tasks) after every client shut down.
    after_shutdown: (usize, usize, usize),
    /// Sockets open before the first client (the runtime's own).
    own_sockets: usize,
    own_tasks_after: usize,
    traffic_window: (f64, f64),
    restarts: usize,
    broker_restart: Option<f64>,
    acked_after_restart: Option<u64>,
}

async fn soak(opts: Options) -> Result<(Outcome, Arc<Shared>), String> {
    // Ctrl-C / SIGTERM: kill the JVMs this process started, then exit 130.
    let signals = tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(e) => {
                eprintln!("[soak] no SIGTERM handler ({e}); Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        eprintln!("[soak] interrupted: killing the cluster this soak started");
        rmq_tests::kill_all_started();
        std::process::exit(130);
    });

    let mut cluster: Option<Cluster> = None;
    let namesrv = match &opts.namesrv {
        Some(ns) => {
            eprintln!("[soak] on {ns}: not our cluster, so no broker restart");
            ns.clone()
        }
        None => {
            eprintln!("[soak] starting a private RocketMQ 5.x cluster: namesrv, {VICTIM}, {BROKER_B} (SYNC_FLUSH)");
            let t0 = Instant::now();
            let started = tokio::task::spawn_blocking(|| -> Result<Cluster, String> {
                let spec = ClusterSpec::with_free_ports(BrokerVersion::V5)
                    .map_err(|e| e.to_string())?
                    .broker_config("flushDiskType", "SYNC_FLUSH");
                let mut c = Cluster::start(spec).map_err(|e| e.to_string())?;
                c.add_broker(BROKER_B).map_err(|e| e.to_string())?;
                Ok(c)
            })
            .await
            .map_err(|e| format!("cluster start: {e}"))??;
            eprintln!(
                "[soak] cluster up in {:.1}s on {}",
                t0.elapsed().as_secs_f64(),
                started.namesrv_addr()
            );
            let ns = started.namesrv_addr();
            cluster = Some(started);
            ns
        }
    };

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let topic = format!("soak_{}_{}", std::process::id(), stamp % 1_000_000_007);
    let group = format!("cg_{topic}");
    {
        let admin = Admin::connect(&namesrv)
            .await
            .map_err(|e| format!("admin on {namesrv}: {e}"))?;
        let brokers = masters(&admin).await?;
        let created = create_topic(&admin, &topic, &brokers).await;
        let _ = admin.shutdown().await;
        created?;
        eprintln!(
            "[soak] topic {topic}: {QUEUES} queues on {} masters",
            brokers.len()
        );
    }

    // Sockets before the first client: the runtime's own (signals).
    let start = Instant::now();
    let own_sockets = loop {
        let (all, tcp) = open_sockets();
        if tcp == 0 || start.elapsed() > Duration::from_secs(10) {
            break all - tcp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Times are counted from here: the cluster start is not traffic.
    let shared = Arc::new(Shared {
        ledger: Mutex::default(),
        next_seq: AtomicU64::new(0),
        send_errors: AtomicU64::new(0),
        hung_sends: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        first_errors: Mutex::default(),
        events: Mutex::default(),
        failures: Mutex::default(),
        started: Instant::now(),
    });
    let t_start = shared.started;
    let end = t_start + opts.run;
    let warm_up = (opts.run / 6).min(Duration::from_secs(20));
    let lifetime = (
        Duration::from_secs(15),
        (opts.run / 3).clamp(Duration::from_secs(30), Duration::from_secs(120)),
    );
    eprintln!(
        "[soak] seed {}; {} msgs/s from {SENDERS} senders; {} consumers living {}-{} s each; {VICTIM} killed at {:.0} s",
        opts.seed,
        opts.rate,
        opts.consumers,
        lifetime.0.as_secs(),
        lifetime.1.as_secs(),
        opts.run.as_secs_f64() / 2.0
    );

    let producer = Producer::builder()
        .name_server(&namesrv)
        .group(format!("pg_{topic}"))
        .send_timeout(SEND_TIMEOUT)
        .build()
        .map_err(|e| format!("producer: {e}"))?;
    producer
        .start()
        .await
        .map_err(|e| format!("producer start: {e}"))?;
    let (traffic, sender_tasks) =
        start_producer(producer.clone(), topic.clone(), &opts, Arc::clone(&shared));

    let (phase_tx, phase_rx) = watch::channel(Phase::WarmUp);
    let mut rng = Rng(opts.seed);
    let members: Vec<_> = (1..=opts.consumers)
        .map(|i| {
            let slot = Slot {
                index: i,
                namesrv: namesrv.clone(),
                group: group.clone(),
                topic: topic.clone(),
                rng: Rng(rng.next()),
                lifetime,
            };
            tokio::spawn(member(slot, phase_rx.clone(), Arc::clone(&shared)))
        })
        .collect();
    drop(phase_rx);

    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let sampler = {
        let (samples, shared) = (Arc::clone(&samples), Arc::clone(&shared));
        let every = opts.sample_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let s = sample(&shared, "");
                eprintln!(
                    "[soak] {:>6.1}s rss {:>6.1} MiB sockets {:>3} (tcp {:>3}) tasks {:>4} sent {:>7} acked {:>7} consumed {:>7}",
                    s.secs,
                    s.rss_kib as f64 / 1024.0,
                    s.sockets,
                    s.tcp,
                    s.tasks,
                    s.sent,
                    s.acked,
                    s.consumed
                );
                lock(&samples).push(s);
            }
        })
    };

    // Warm-up, then the baseline quiet point.
    sleep_until(t_start + warm_up).await;
    let (baseline, caught_up) = quiet_point(&shared, &traffic, "baseline (quiet)").await;
    if !caught_up {
        shared.fail("the consumers did not catch up at the baseline quiet point");
    }
    lock(&samples).push(baseline.clone());
    let traffic_from = shared.started.elapsed().as_secs_f64();
    let _ = traffic.paused.send(false);
    let _ = phase_tx.send(Phase::Churn);

    // The broker crash near the middle.
    let mut broker_restart = None;
    let mut acked_at_restart = None;
    let kill_at = t_start + opts.run / 2;
    if cluster.is_some() {
        sleep_until(kill_at).await;
        shared.event(format!("{VICTIM} SIGKILLed"));
        let killed = with_cluster(&mut cluster, |c| c.kill_broker_named(VICTIM)).await;
        if !matches!(killed, Some(Ok(()))) {
            shared.fail(format!("kill {VICTIM}: {killed:?}"));
        }
        tokio::time::sleep(BROKER_DOWN).await;
        let t0 = Instant::now();
        let restarted = with_cluster(&mut cluster, |c| c.start_broker_named(VICTIM)).await;
        match restarted {
            Some(Ok(())) => {
                let secs = t0.elapsed().as_secs_f64();
                broker_restart = Some(secs);
                acked_at_restart = Some(shared.counts().1);
                shared.event(format!("{VICTIM} up again ({secs:.1}s start)"));
            }
            other => shared.fail(format!("restart {VICTIM}: {other:?}")),
        }
    }

    sleep_until(end).await;
    let _ = phase_tx.send(Phase::Hold);
    let traffic_to = shared.started.elapsed().as_secs_f64();
    let acked_after_restart = acked_at_restart.map(|a| shared.counts().1.saturating_sub(a));

    // The end: every acknowledged message consumed (bounded), then the
    // final quiet point.
    traffic.pause().await;
    let start = Instant::now();
    while shared.missing().0 > 0 && start.elapsed() < SETTLE_WAIT {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("[soak] settled in {:.1}s", start.elapsed().as_secs_f64());
    let (last_quiet, _) = quiet_point(&shared, &traffic, "final (quiet)").await;
    sampler.abort();
    let _ = sampler.await;
    let mut samples = std::mem::take(&mut *lock(&samples));
    samples.push(last_quiet.clone());

    // Everything shut down: the process should hold nothing of rmq's.
    traffic.permits.close();
    for t in sender_tasks {
        let _ = t.await;
    }
    let _ = phase_tx.send(Phase::Stop);
    let mut restarts = 0;
    for m in members {
        restarts += m.await.unwrap_or(0);
    }
    match tokio::time::timeout(SHUTDOWN_LIMIT, producer.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => shared.fail(format!("producer shutdown: {e}")),
        Err(_) => shared.fail(format!("producer shutdown outlived {SHUTDOWN_LIMIT:?}")),
    }
    drop(producer);
    // The soak's own tasks still alive: the signal task.
    let own_tasks = 1;
    let start = Instant::now();
    let after_shutdown = loop {
        let ((sockets, tcp), tasks) = (open_sockets(), alive_tasks());
        let clean = tcp == 0 && sockets <= own_sockets && tasks <= own_tasks;
        if clean || start.elapsed() > Duration::from_secs(10) {
            break (sockets, tcp, tasks);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    signals.abort();

    Ok((
        Outcome {
            samples,
            baseline,
            last_quiet,
            after_shutdown,
            own_sockets,
            own_tasks_after: own_tasks,
            traffic_window: (traffic_from, traffic_to),
            restarts,
            broker_restart,
            acked_after_restart,
        },
        shared,
    ))
}

// ----- the report --------------------------------------------------------------------------

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_table(samples: &[Sample]) {
    let step = samples.len().div_ceil(TABLE_ROWS).max(1);
    println!(
        "{:>7} {:>8} {:>7} {:>4} {:>6} {:>8} {:>8} {:>8} {:>6}  note",
        "time s", "RSS MiB", "sockets", "tcp", "tasks", "sent", "acked", "consumed", "errors"
    );
    for (i, s) in samples.iter().enumerate() {
        let keep = i % step == 0 || i + 1 == samples.len() || !s.note.is_empty();
        if keep {
            println!(
                "{:>7.1} {:>8.1} {:>7} {:>4} {:>6} {:>8} {:>8} {:>8} {:>6}  {}",
                s.secs,
                mib(s.rss_kib),
                s.sockets,
                s.tcp,
                s.tasks,
                s.sent,
                s.acked,
                s.consumed,
                s.errors,
                s.note
            );
        }
    }
}

/// The RSS peaks (KiB) of the first and the last third of the traffic
/// (after the warm-up), and the hours between the thirds' middles.
fn rss_thirds(out: &Outcome) -> Option<(u64, u64, f64)> {
    let (from, to) = out.traffic_window;
    let third = (to - from) / 3.0;
    let peak = |lo: f64, hi: f64| {
        out.samples
            .iter()
            .filter(|s| s.secs >= lo && s.secs <= hi)
            .map(|s| s.rss_kib)
            .max()
    };
    let first = peak(from, from + third)?;
    let last = peak(to - third, to)?;
    Some((first, last, 2.0 * third / 3600.0))
}

/// The checks on what was measured; each failure says why.
fn verdict(out: &Outcome, shared: &Shared) -> Vec<String> {
    let mut failures = lock(&shared.failures).clone();
    let (missing, first_missing) = shared.missing();
    if missing > 0 {
        failures.push(format!(
            "lost {missing} acknowledged messages (first: seq {})",
            first_missing.unwrap_or(0)
        ));
    }
    let hung = shared.hung_sends.load(Ordering::SeqCst);
    if hung > 0 {
        failures.push(format!(
            "{hung} sends outlived their {SEND_TIMEOUT:?} deadline by {HANG_MARGIN:?}"
        ));
    }
    if out.acked_after_restart == Some(0) {
        failures.push(format!("nothing was acknowledged after {VICTIM} came back"));
    }
    match rss_thirds(out) {
        Some((first, last, _)) => {
            let growth = mib(last) - mib(first);
            let allowed = RSS_GROWTH_MIB.max(mib(first) * RSS_GROWTH_PCT / 100.0);
            if growth >= allowed {
                failures.push(format!(
                    "RSS grew {growth:.1} MiB from the first third's peak {:.1} MiB to the last third's {:.1} MiB (allowed < {allowed:.1})",
                    mib(first),
                    mib(last)
                ));
            }
        }
        None => failures.push("too few samples to compare the thirds' RSS".into()),
    }
    let (b, f) = (&out.baseline, &out.last_quiet);
    for (what, base, last) in [
        ("sockets", b.sockets, f.sockets),
        ("TCP sockets", b.tcp, f.tcp),
        ("tasks", b.tasks, f.tasks),
    ] {
        if (last as i64 - base as i64).abs() > COUNT_TOLERANCE {
            failures.push(format!(
                "{what}: {last} at the final quiet point vs {base} at the baseline (allowed ±{COUNT_TOLERANCE})"
            ));
        }
    }
    let (sockets, tcp, tasks) = out.after_shutdown;
    if tcp > 0 || sockets > out.own_sockets || tasks > out.own_tasks_after {
        failures.push(format!(
            "after every client shut down: {sockets} sockets ({tcp} TCP) open and {tasks} tasks alive \
             (expected {} sockets, 0 TCP, {} tasks: the soak's own)",
            out.own_sockets, out.own_tasks_after
        ));
    }
    failures
}

fn report(opts: &Options, out: &Outcome, shared: &Shared) -> bool {
    println!();
    println!(
        "rmq soak: {:.1} min of traffic, seed {}, {} msgs/s, {} consumers",
        opts.run.as_secs_f64() / 60.0,
        opts.seed,
        opts.rate,
        opts.consumers
    );
    print_table(&out.samples);
    let l = lock(&shared.ledger);
    let (sent, acked, consumed) = (
        shared.next_seq.load(Ordering::SeqCst),
        l.acked_count,
        l.consumed_count,
    );
    let (redelivered, foreign) = (l.redelivered, l.foreign);
    let unacked_consumed = l.consumed.minus(&l.acked).0;
    drop(l);
    let (missing, _) = shared.missing();
    println!(
        "sent {sent} / acknowledged {acked} / send errors {} / consumed {consumed} distinct \
         (+{redelivered} redelivered, {unacked_consumed} consumed without an ack{}) / lost {missing}",
        shared.send_errors.load(Ordering::SeqCst),
        if foreign > 0 { format!(", {foreign} foreign") } else { String::new() }
    );
    for e in lock(&shared.first_errors).iter() {
        println!("  send error: {e}");
    }
    println!(
        "consumer restarts {}; {VICTIM} restart {}",
        out.restarts,
        out.broker_restart.map_or(
            if opts.namesrv.is_some() {
                "skipped (not our cluster)"
            } else {
                "FAILED"
            }
            .to_string(),
            |s| format!(
                "took {s:.1}s, then {} acknowledged",
                out.acked_after_restart.unwrap_or(0)
            )
        )
    );
    println!(
        "quiet points: baseline rss {:.1} MiB / {} sockets ({} TCP) / {} tasks; final rss {:.1} MiB / {} sockets ({} TCP) / {} tasks; \
         after shutdown {} sockets ({} TCP) / {} tasks",
        mib(out.baseline.rss_kib),
        out.baseline.sockets,
        out.baseline.tcp,
        out.baseline.tasks,
        mib(out.last_quiet.rss_kib),
        out.last_quiet.sockets,
        out.last_quiet.tcp,
        out.last_quiet.tasks,
        out.after_shutdown.0,
        out.after_shutdown.1,
        out.after_shutdown.2
    );
    if let Some((first, last, hours)) = rss_thirds(out) {
        let growth = mib(last) - mib(first);
        println!(
            "RSS: first-third peak {:.1} MiB, last-third peak {:.1} MiB ({growth:+.1} MiB, {:+.1} MiB/h)",
            mib(first),
            mib(last),
            growth / hours.max(1e-9)
        );
    }
    println!(
        "tolerances: lost = 0; RSS last-third peak < first-third peak + max({RSS_GROWTH_MIB} MiB, {RSS_GROWTH_PCT} %); \
         sockets and tasks at the final quiet point = baseline ±{COUNT_TOLERANCE}; after shutdown 0 TCP sockets, only the soak's own sockets and tasks"
    );
    let failures = verdict(out, shared);
    if failures.is_empty() {
        println!("verdict: PASS");
        true
    } else {
        for f in &failures {
            println!("verdict: FAIL: {f}");
        }
        false
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let opts = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rmq_soak: {e}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rmq_soak: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(soak(opts.clone()));
    // The cluster (if ours) was dropped with the run: its JVMs are killed.
    rmq_tests::kill_all_started();
    match result {
        Ok((out, shared)) => {
            if report(&opts, &out, &shared) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("verdict: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_carries_its_sequence_number() {
        assert_eq!(seq_of(&body(42, 512)), Some(42));
        assert_eq!(body(42, 512).len(), 512);
        assert_eq!(seq_of(b"other"), None);
    }

    #[test]
    fn options_out_of_range_are_refused_with_the_flag_named() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let opts = parse_options(&args("--minutes 1.5 --seed 7")).unwrap();
        assert_eq!((opts.run, opts.seed), (Duration::from_secs(90), 7));
        for (bad, flag) in [
            ("--minutes 0.1", "--minutes"),
            ("--minutes x", "--minutes"),
            ("--rate 0", "--rate"),
            ("--consumers 99", "--consumers"),
            ("--bogus 1", "--bogus"),
            ("--seed", "--seed"),
        ] {
            let err = parse_options(&args(bad)).unwrap_err();
            assert!(err.contains(flag), "{bad}: {err}");
        }
    }

    #[test]
    fn bits_count_what_one_set_has_and_the_other_lacks() {
        let (mut a, mut b) = (Bits::default(), Bits::default());
        for i in [1, 64, 200] {
            assert!(!a.set(i));
        }
        assert!(a.set(64));
        b.set(64);
        assert_eq!(a.minus(&b), (2, Some(1)));
        assert_eq!(b.minus(&a), (0, None));
    }
}
