//! `rmq_latency_bench`: rmq's end-to-end latency side of `cargo xtask bench`,
//! as `rmq-go-peer bench-latency`. One process: a [`rmq::PushConsumer`] of a
//! fresh group (from the last offset) starts first; probe messages are sent
//! until one arrives (bounded), so the consumer owns its queues; then a
//! [`rmq::Producer`] sends at a fixed rate for the warm-up plus the measured
//! duration, each message due at `t0 + i / rate` and sent synchronously by
//! one of `--senders` tasks. A body starts with its send time (wall clock,
//! ns since the epoch) in decimal ASCII and a space; the latency is the
//! receive time minus that. Messages sent before the warm-up ended are not counted;
//! stragglers are awaited at most 30 s. CPU covers the producer and the
//! consumer from the end of the warm-up until the last message arrived.
//!
//! ```text
//! rmq_latency_bench --namesrv 127.0.0.1:9876 --group G --topic T --rate 2000
//!     [--duration-sec 10] [--warmup-sec 2] [--body-size 1024] [--senders 8]
//!     [--ready-timeout-sec 30] [--worker-threads 0]
//! ```
//!
//! Tokio's timer has millisecond resolution: above 1000 msgs/s several
//! messages fall due in the same millisecond and leave together.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{max_rss_kib, wall_ns, Flags, Mark};
use rmq::{ConsumeFrom, ConsumeResult, Message, Producer, PushConsumer, Selector};

struct Args {
    namesrv: String,
    group: String,
    topic: String,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    body_size: usize,
    senders: usize,
    ready_timeout: Duration,
    worker_threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let f = Flags::parse(&[
        "namesrv",
        "group",
        "topic",
        "rate",
        "duration-sec",
        "warmup-sec",
        "body-size",
        "senders",
        "ready-timeout-sec",
        "worker-threads",
    ])?;
    let seconds = |flag: &str, default: f64| -> Result<Duration, String> {
        Ok(Duration::from_secs_f64(f.number(flag, default)?.max(0.0)))
    };
    let args = Args {
        namesrv: f.string("namesrv", "127.0.0.1:9876"),
        group: f.required("group")?,
        topic: f.required("topic")?,
        rate: f.number("rate", 2000.0)?,
        duration: seconds("duration-sec", 10.0)?,
        warmup: seconds("warmup-sec", 2.0)?,
        body_size: f.number("body-size", 1024)?,
        senders: f.number("senders", 8usize)?.max(1),
        ready_timeout: seconds("ready-timeout-sec", 30.0)?,
        worker_threads: f.number("worker-threads", 0)?,
    };
    if args.rate <= 0.0 || args.duration.is_zero() {
        return Err("need --rate > 0 and --duration-sec > 0".into());
    }
    Ok(args)
}

/// A body: `send_ns` in decimal, a space, filler up to `size`.
fn body(send_ns: i64, size: usize, filler: &[u8]) -> bytes::Bytes {
    let mut b = Vec::with_capacity(size.max(21));
    b.extend_from_slice(send_ns.to_string().as_bytes());
    b.push(b' ');
    if b.len() < size {
        let more = size - b.len();
        b.extend_from_slice(&filler[..more]);
    }
    b.into()
}

/// The send time a [`body`] starts with.
fn send_time_of(body: &[u8]) -> Option<i64> {
    let end = body.iter().position(|&c| c == b' ')?;
    std::str::from_utf8(&body[..end]).ok()?.parse().ok()
}

/// What the consumer saw.
#[derive(Default)]
struct Received {
    /// Wall ns: messages sent at or after it count; 0 until known.
    measure_from: AtomicI64,
    any: AtomicBool,
    counted: AtomicU64,
    latencies_ns: Mutex<Vec<i64>>,
}

impl Received {
    fn record(&self, bodies: impl Iterator<Item = Option<i64>>) {
        let now = wall_ns();
        self.any.store(true, Ordering::Relaxed);
        let from = self.measure_from.load(Ordering::Relaxed);
        for sent in bodies.flatten() {
            if from != 0 && sent >= from {
                self.latencies_ns
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(now - sent);
                self.counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let received = Arc::new(Received::default());
    let consumer = PushConsumer::builder()
        .name_server(&args.namesrv)
        .group(&args.group)
        .consume_from(ConsumeFrom::Last)
        .build()
        .map_err(|e| e.to_string())?;
    let seen = Arc::clone(&received);
    consumer
        .subscribe(&args.topic, Selector::all(), move |msgs| {
            seen.record(msgs.iter().map(|m| send_time_of(m.body())));
            async { ConsumeResult::Success }
        })
        .map_err(|e| e.to_string())?;
    consumer.start().await.map_err(|e| e.to_string())?;

    let producer = Producer::builder()
        .name_server(&args.namesrv)
        .group(format!("{}_producer", args.group))
        .retries(2)
        .send_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    producer.start().await.map_err(|e| e.to_string())?;
    let filler: Arc<[u8]> = common::filler(args.body_size).into();
    let send = {
        let (producer, topic, filler) = (producer.clone(), args.topic.clone(), filler.clone());
        let size = args.body_size;
        move || {
            let (producer, topic, filler) = (producer.clone(), topic.clone(), filler.clone());
            async move {
                let sent_ns = wall_ns();
                let message = Message::new(topic.as_str(), body(sent_ns, size, &filler));
                (sent_ns, producer.send(message).await.map(|_| ()))
            }
        }
    };

    // Probes until the consumer owns its queues and receives (bounded).
    let ready_start = Instant::now();
    while !received.any.load(Ordering::Relaxed) && ready_start.elapsed() < args.ready_timeout {
        if let (_, Err(e)) = send().await {
            eprintln!("rmq_latency_bench: probe: {e}");
        }
        for _ in 0..10 {
            if received.any.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let ready_sec = ready_start.elapsed().as_secs_f64();
    if !received.any.load(Ordering::Relaxed) {
        eprintln!("rmq_latency_bench: no probe arrived; running anyway");
    }

    // Message i is due at t0 + i / rate; those sent from measure_start on count.
    let t0 = tokio::time::Instant::now() + Duration::from_millis(20);
    let measure_start = t0 + args.warmup;
    let end = measure_start + args.duration;
    let measure_from = wall_ns() + (measure_start - tokio::time::Instant::now()).as_nanos() as i64;
    received.measure_from.store(measure_from, Ordering::Relaxed);
    let start_mark = tokio::spawn(async move {
        tokio::time::sleep_until(measure_start).await;
        Mark::now()
    });
    let next = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for _ in 0..args.senders {
        let (next, sent, errors, first_error) = (
            next.clone(),
            sent.clone(),
            errors.clone(),
            first_error.clone(),
        );
        let (send, rate) = (send.clone(), args.rate);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                if due >= end {
                    return;
                }
                tokio::time::sleep_until(due).await;
                let (sent_ns, result) = send().await;
                if sent_ns < measure_from {
                    continue;
                }
                match result {
                    Ok(()) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert_with(|| e.to_string());
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    let start_mark = start_mark.await.map_err(|e| e.to_string())?;
    let send_end = Instant::now();
    let sent = sent.load(Ordering::Relaxed);
    while received.counted.load(Ordering::Relaxed) < sent
        && send_end.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let end_mark = Mark::now();

    let mut lat = received
        .latencies_ns
        .lock()
        .map_err(|e| e.to_string())?
        .clone();
    lat.sort_unstable();
    let pct = |q: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[(q * (lat.len() - 1) as f64) as usize] as f64 / 1e6
        }
    };
    let send_sec = send_end.duration_since(start_mark.at).as_secs_f64();
    let (user, sys) = start_mark.cpu_to(&end_mark);
    let first_error = first_error
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .map(|e| format!(",\"first_error\":{}", common::json_string(&e)))
        .unwrap_or_default();
    println!(
        "{{\"type\":\"summary\",\"client\":\"rmq\",\"sent\":{sent},\"errors\":{},\
         \"received\":{},\"rate\":{},\"senders\":{},\"body_size\":{},\"elapsed_sec\":{send_sec:.3},\
         \"msgs_per_sec\":{:.1},\"ready_sec\":{ready_sec:.3},\"cpu_user_sec\":{user:.3},\
         \"cpu_sys_sec\":{sys:.3},\"max_rss_kib\":{},\"lat_p50_ms\":{:.3},\"lat_p99_ms\":{:.3},\
         \"lat_max_ms\":{:.3}{first_error}}}",
        errors.load(Ordering::Relaxed),
        lat.len(),
        args.rate,
        args.senders,
        args.body_size,
        sent as f64 / send_sec,
        max_rss_kib(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
    let _ = tokio::time::timeout(Duration::from_secs(15), consumer.shutdown()).await;
    let _ = producer.shutdown().await;
    if sent == 0 || lat.is_empty() {
        return Err("nothing was sent or received in the measured window".into());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match common::flags_or_exit(parse_args) {
        Ok(args) => common::run(args.worker_threads, run(args)),
        Err(code) => code,
    }
}
