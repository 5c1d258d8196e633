//! `rmq_send_bench`: rmq's side of `cargo xtask bench`. Sends 1 KiB (by
//! default) messages to a real broker for a fixed time and prints one JSON
//! summary line shaped like `rmq-go-peer bench-send`'s, so the two clients are
//! measured the same way (CPU and peak RSS are the process's own).
//!
//! ```text
//! rmq_send_bench --namesrv 127.0.0.1:9876 --topic T [--group G]
//!     [--mode sync|pipelined|batch] [--concurrency N] [--batch-size 32]
//!     [--body-size 1024] [--duration-sec 10] [--warmup 100] [--worker-threads N]
//! ```
//!
//! - `sync`: N tasks, each awaiting one send at a time (like the Go peer's
//!   goroutines).
//! - `pipelined`: one task keeps N sends in flight (`FuturesUnordered`).
//! - `batch`: N tasks, each sending batches of `--batch-size` messages.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cpu_seconds, json_string, max_rss_kib, Flags};
use futures_util::stream::{FuturesUnordered, StreamExt};
use rmq::{Message, Producer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sync,
    Pipelined,
    Batch,
}

#[derive(Debug, Clone)]
struct Args {
    namesrv: String,
    topic: String,
    group: String,
    mode: Mode,
    concurrency: usize,
    batch_size: usize,
    body_size: usize,
    duration: Duration,
    warmup: usize,
    /// Tokio worker threads; 0 = tokio's default, 1 = a current-thread runtime.
    worker_threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let f = Flags::parse(&[
        "namesrv",
        "topic",
        "group",
        "mode",
        "concurrency",
        "batch-size",
        "body-size",
        "duration-sec",
        "warmup",
        "worker-threads",
    ])?;
    Ok(Args {
        namesrv: f.string("namesrv", "127.0.0.1:9876"),
        topic: f.required("topic")?,
        group: f.string("group", &format!("rmq_bench_{}", std::process::id())),
        mode: match f.string("mode", "sync").as_str() {
            "sync" => Mode::Sync,
            "pipelined" => Mode::Pipelined,
            "batch" => Mode::Batch,
            other => return Err(format!("--mode: unknown mode `{other}`")),
        },
        concurrency: f.number("concurrency", 1usize)?.max(1),
        batch_size: f.number("batch-size", 32usize)?.max(1),
        body_size: f.number("body-size", 1024)?,
        duration: Duration::from_secs_f64(f.number("duration-sec", 10.0f64)?.max(0.0)),
        warmup: f.number("warmup", 100)?,
        worker_threads: f.number("worker-threads", 0)?,
    })
}

struct Counters {
    sent: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn record(&self, n: u64, result: Result<(), rmq::Error>) {
        match result {
            Ok(()) => {
                self.sent.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(n, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let producer = Producer::builder()
        .name_server(&args.namesrv)
        .group(&args.group)
        .retries(2)
        .send_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    producer.start().await.map_err(|e| e.to_string())?;
    let payload = bytes::Bytes::from(common::filler(args.body_size));
    let message = Message::new(args.topic.as_str(), payload);

    for _ in 0..args.warmup {
        producer
            .send(message.clone())
            .await
            .map_err(|e| format!("warm-up send: {e}"))?;
    }

    let counters = Arc::new(Counters {
        sent: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
    });
    let (user0, sys0) = cpu_seconds();
    let start = Instant::now();
    let deadline = start + args.duration;
    let progress = {
        let counters = Arc::clone(&counters);
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = counters.sent.load(Ordering::Relaxed);
                eprintln!("rmq_send_bench: {} msgs/s", now - last);
                last = now;
            }
        })
    };

    match args.mode {
        Mode::Sync | Mode::Batch => {
            let mut tasks = Vec::with_capacity(args.concurrency);
            for _ in 0..args.concurrency {
                let producer = producer.clone();
                let message = message.clone();
                let counters = Arc::clone(&counters);
                let (mode, batch_size) = (args.mode, args.batch_size);
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < deadline {
                        if mode == Mode::Sync {
                            let r = producer.send(message.clone()).await.map(|_| ());
                            counters.record(1, r);
                        } else {
                            let batch = vec![message.clone(); batch_size];
                            let r = producer.send_batch(batch).await.map(|_| ());
                            counters.record(batch_size as u64, r);
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.map_err(|e| e.to_string())?;
            }
        }
        Mode::Pipelined => {
            let mut in_flight = FuturesUnordered::new();
            for _ in 0..args.concurrency {
                in_flight.push(producer.send(message.clone()));
            }
            while let Some(result) = in_flight.next().await {
                counters.record(1, result.map(|_| ()));
                if Instant::now() < deadline {
                    in_flight.push(producer.send(message.clone()));
                }
            }
        }
    }

    let elapsed = start.elapsed().as_secs_f64();
    let (user1, sys1) = cpu_seconds();
    progress.abort();
    let sent = counters.sent.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let first_error = counters
        .first_error
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .map(|e| format!(",\"first_error\":{}", json_string(&e)))
        .unwrap_or_default();
    let mode = match args.mode {
        Mode::Sync => "sync",
        Mode::Pipelined => "pipelined",
        Mode::Batch => "batch",
    };
    println!(
        "{{\"type\":\"summary\",\"client\":\"rmq\",\"mode\":\"{mode}\",\"sent\":{sent},\
         \"errors\":{errors},\"concurrency\":{},\"batch_size\":{},\"body_size\":{},\
         \"elapsed_sec\":{elapsed:.3},\"msgs_per_sec\":{:.1},\"cpu_user_sec\":{:.3},\
         \"cpu_sys_sec\":{:.3},\"max_rss_kib\":{}{first_error}}}",
        args.concurrency,
        if args.mode == Mode::Batch {
            args.batch_size
        } else {
            1
        },
        args.body_size,
        sent as f64 / elapsed,
        user1 - user0,
        sys1 - sys0,
        max_rss_kib()
    );
    producer.shutdown().await.map_err(|e| e.to_string())?;
    if sent == 0 {
        return Err("nothing was sent".into());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match common::flags_or_exit(parse_args) {
        Ok(args) => common::run(args.worker_threads, run(args)),
        Err(code) => code,
    }
}
