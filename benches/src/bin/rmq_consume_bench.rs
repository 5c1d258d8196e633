//! `rmq_consume_bench`: rmq's consume side of `cargo xtask bench`. A
//! [`rmq::PushConsumer`] of a fresh group reads a pre-filled topic from the
//! first offset until `--expect N` messages were delivered, with the
//! production defaults (intervals, pulls of 32, flow control), 20 handler
//! tasks (Java's `consumeThreadMax`) and one message per handler call; the
//! handler only counts. Time and CPU run from the first delivered message to
//! the N-th, as in `rmq-go-peer bench-consume`.
//!
//! ```text
//! rmq_consume_bench --namesrv 127.0.0.1:9876 --group G --topic T --expect N
//!     [--timeout-sec 300] [--threads 20] [--worker-threads 0]
//! ```
//!
//! Summary: `{"type":"summary","sent":N (consumed),"errors":0,"msgs_per_sec":...,
//! "cpu_user_sec":...,"cpu_sys_sec":...,"max_rss_kib":...,"received":...}`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{max_rss_kib, Flags, Mark};
use rmq::{ConsumeFrom, ConsumeResult, PushConsumer, Selector};
use tokio::sync::Notify;

struct Args {
    namesrv: String,
    group: String,
    topic: String,
    expect: u64,
    timeout: Duration,
    threads: usize,
    worker_threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let f = Flags::parse(&[
        "namesrv",
        "group",
        "topic",
        "expect",
        "timeout-sec",
        "threads",
        "worker-threads",
    ])?;
    let args = Args {
        namesrv: f.string("namesrv", "127.0.0.1:9876"),
        group: f.required("group")?,
        topic: f.required("topic")?,
        expect: f.number("expect", 0)?,
        timeout: Duration::from_secs_f64(f.number("timeout-sec", 300.0f64)?.max(0.0)),
        threads: f.number("threads", 20)?,
        worker_threads: f.number("worker-threads", 0)?,
    };
    if args.expect == 0 {
        return Err("--expect must be >= 1".into());
    }
    Ok(args)
}

/// What the handler records: the count, and marks at the first and N-th.
struct Progress {
    expect: u64,
    count: AtomicU64,
    first: Mutex<Option<Mark>>,
    last: Mutex<Option<Mark>>,
    done: Notify,
}

impl Progress {
    fn delivered(&self, n: usize) {
        for _ in 0..n {
            let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
            if count == 1 {
                *self.first.lock().unwrap_or_else(|e| e.into_inner()) = Some(Mark::now());
            }
            if count == self.expect {
                *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Mark::now());
                self.done.notify_one();
            }
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let progress = Arc::new(Progress {
        expect: args.expect,
        count: AtomicU64::new(0),
        first: Mutex::new(None),
        last: Mutex::new(None),
        done: Notify::new(),
    });
    let consumer = PushConsumer::builder()
        .name_server(&args.namesrv)
        .group(&args.group)
        .consume_from(ConsumeFrom::First)
        .threads(args.threads)
        .batch_size(1)
        .build()
        .map_err(|e| e.to_string())?;
    let handler_progress = Arc::clone(&progress);
    consumer
        .subscribe(&args.topic, Selector::all(), move |msgs| {
            handler_progress.delivered(msgs.len());
            async { ConsumeResult::Success }
        })
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    consumer.start().await.map_err(|e| e.to_string())?;

    let reporter = {
        let progress = Arc::clone(&progress);
        tokio::spawn(async move {
            let mut prev = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = progress.count.load(Ordering::Relaxed);
                eprintln!(
                    "rmq_consume_bench: {:.0} s consumed={now} last_sec={}",
                    start.elapsed().as_secs_f64(),
                    now - prev
                );
                prev = now;
            }
        })
    };
    let finished = tokio::time::timeout(args.timeout, progress.done.notified())
        .await
        .is_ok();
    reporter.abort();
    if tokio::time::timeout(Duration::from_secs(15), consumer.shutdown())
        .await
        .is_err()
    {
        eprintln!("rmq_consume_bench: consumer shutdown timed out");
    }
    let received = progress.count.load(Ordering::Relaxed);
    if !finished {
        return Err(format!(
            "timeout: {received} of {} messages after {:.0} s",
            args.expect,
            args.timeout.as_secs_f64()
        ));
    }
    let first = progress
        .first
        .lock()
        .map_err(|e| e.to_string())?
        .ok_or("no first mark")?;
    let last = progress
        .last
        .lock()
        .map_err(|e| e.to_string())?
        .ok_or("no last mark")?;
    let elapsed = first.seconds_to(&last);
    let (user, sys) = first.cpu_to(&last);
    println!(
        "{{\"type\":\"summary\",\"client\":\"rmq\",\"sent\":{},\"errors\":0,\
         \"received\":{received},\"elapsed_sec\":{elapsed:.3},\"first_message_sec\":{:.3},\
         \"msgs_per_sec\":{:.1},\"cpu_user_sec\":{user:.3},\"cpu_sys_sec\":{sys:.3},\
         \"max_rss_kib\":{}}}",
        args.expect,
        first.at.duration_since(start).as_secs_f64(),
        if elapsed > 0.0 {
            args.expect as f64 / elapsed
        } else {
            0.0
        },
        max_rss_kib()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    match common::flags_or_exit(parse_args) {
        Ok(args) => common::run(args.worker_threads, run(args)),
        Err(code) => code,
    }
}
