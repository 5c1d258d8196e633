//! The seed's consumer, in Rust: group "test", topic "test", every tag,
//! prints every message it receives.
//!
//! `NAMESRV_ADDR=127.0.0.1:9876 cargo run -p rmq --example consumer`
//! runs until Ctrl-C; with `RMQ_DEMO_EXPECT=3` (as `cargo xtask demo`
//! sets it) it exits once it has seen the producer example's three tags,
//! and fails if they do not arrive within 60 s.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmq::{ConsumeFrom, ConsumeResult, PushConsumer, Selector};

#[tokio::main]
async fn main() -> Result<(), rmq::Error> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let topic = std::env::var("RMQ_DEMO_TOPIC").unwrap_or_else(|_| "test".into());
    let expect: Option<usize> = std::env::var("RMQ_DEMO_EXPECT")
        .ok()
        .and_then(|v| v.parse().ok());
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group("test")
        .consume_from(ConsumeFrom::First)
        .build()?;
    let tags = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = Arc::clone(&tags);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    consumer.subscribe(&topic, Selector::all(), move |msgs| {
        let seen = Arc::clone(&seen);
        let done = done_tx.clone();
        async move {
            for m in &msgs {
                println!(
                    "subscribe callback: topic={} tags={} msgId={} queue={}@{} body={}",
                    m.topic(),
                    m.tags().unwrap_or("-"),
                    m.id(),
                    m.queue_id,
                    m.queue_offset,
                    String::from_utf8_lossy(m.body())
                );
                if let Some(tag) = m.tags() {
                    seen.lock().unwrap().insert(tag.to_string());
                }
            }
            let _ = done.send(());
            ConsumeResult::Success
        }
    })?;
    consumer.start().await?;
    match expect {
        Some(n) => {
            let wait = async {
                while tags.lock().unwrap().len() < n {
                    if done_rx.recv().await.is_none() {
                        break;
                    }
                }
            };
            let arrived = tokio::time::timeout(Duration::from_secs(60), wait)
                .await
                .is_ok();
            consumer.shutdown().await?;
            if !arrived {
                eprintln!("consumer: fewer than {n} tags arrived within 60 s");
                std::process::exit(1);
            }
            println!("consumer: received {:?}", tags.lock().unwrap());
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
            consumer.shutdown().await?;
        }
    }
    Ok(())
}
