//! The seed's producer, in Rust: group "test", three messages to topic
//! "test" tagged TagA/TagB/TagC, two retries.
//!
//! Run against a local broker: `cargo xtask demo`, or
//! `NAMESRV_ADDR=127.0.0.1:9876 cargo run -p rmq --example producer`.

use rmq::{Message, Producer};

#[tokio::main]
async fn main() -> Result<(), rmq::Error> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let topic = std::env::var("RMQ_DEMO_TOPIC").unwrap_or_else(|_| "test".into());
    let producer = Producer::builder()
        .name_server(namesrv)
        .retries(2)
        .group("test")
        .build()?;
    producer.start().await?;
    for (i, tag) in ["TagA", "TagB", "TagC"].iter().enumerate() {
        let msg = Message::new(topic.as_str(), "Hello RocketMQ Rust Client!").with_tags(*tag);
        match producer.send(msg).await {
            Ok(r) => println!(
                "send message {i} success: status={:?} msgId={} offsetMsgId={} queue={}:{} queueOffset={}",
                r.status, r.msg_id, r.offset_msg_id, r.queue.broker_name, r.queue.queue_id, r.queue_offset
            ),
            Err(e) => println!("send message {i} error: {e}"),
        }
    }
    producer.shutdown().await?;
    Ok(())
}
