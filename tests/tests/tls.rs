//! TLS between rmq and real brokers: a private cluster whose name server
//! and broker enforce TLS (`-Dtls.server.mode=enforcing`, a CA and a server
//! certificate generated here with rcgen at run time, SANs `127.0.0.1` and
//! `localhost`), the broker registering with the name server over TLS
//! (`-Dtls.enable=true`).
//!
//! One cluster per broker line serves the whole binary (a RocketMQ start
//! costs ~15 s on 2 cores): the first test that needs it starts it, the
//! others reuse it, and the binary kills its JVMs and removes its
//! certificates when it exits. Every test uses topics and groups of its own.
//! Each client type is tested over TLS: the producer, push consumer and
//! admin (with the refusals), the lite pull consumer, the simple consumer
//! (POP, 5.x only) and the trace producer of a traced client.

mod producer_support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use producer_support::{unique, wait_for_route};
use rmq::rmq_core::trace::TraceRecord;
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, Error, LitePullConsumer, Message, MessageExt, Producer,
    PushConsumer, ReceivedMessage, Selector, SendStatus, SimpleConsumer, TlsConfig, TopicConfig,
    TraceConfig,
};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
use tokio::sync::{Mutex, OnceCell};

/// Every refusal must come within this (the connect timeout is 3 s).
const REFUSAL_BOUND: Duration = Duration::from_secs(15);

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A CA and a server certificate it signed, as PEM files in a fresh
/// directory.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
}

impl Pki {
    fn generate() -> Pki {
        use rcgen::{CertificateParams, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let ca_params = ca_params("rmq test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let server = CertificateParams::new(names)
            .unwrap()
            .signed_by(&server_key, &Issuer::from_params(&ca_params, &ca_key))
            .unwrap();
        let dir = std::env::temp_dir().join(unique("rmq-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
        // rcgen writes PKCS#8, which RocketMQ's TlsHelper (netty) reads.
        std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca_pem: ca_cert.pem(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The parameters of a CA called `name`.
fn ca_params(name: &str) -> rcgen::CertificateParams {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params
}

/// Another CA (another name, another key), which signed nothing the
/// cluster serves.
fn unrelated_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    ca_params("unrelated CA").self_signed(&key).unwrap().pem()
}

/// The server side of RocketMQ's TLS (TlsSystemConfig): enforcing, the
/// given certificate (not the test mode's throw-away one), no client
/// certificates, and no `/etc/rocketmq/tls.properties` in the way.
fn server_tls_props(pki: &Pki) -> Vec<(&'static str, String)> {
    vec![
        ("tls.server.mode", "enforcing".into()),
        ("tls.test.mode.enable", "false".into()),
        ("tls.server.certPath", pki.path("server.pem")),
        ("tls.server.keyPath", pki.path("server.key")),
        ("tls.server.need.client.auth", "none".into()),
        ("tls.config.file", pki.path("absent-tls.properties")),
    ]
}

fn tls_spec(version: BrokerVersion, pki: &Pki) -> ClusterSpec {
    let mut spec = ClusterSpec::with_free_ports(version).unwrap();
    for (k, v) in server_tls_props(pki) {
        spec = spec
            .namesrv_jvm_prop(k, v.clone())
            .broker_config(format!("-D{k}"), v);
    }
    // The broker registers with the TLS name server as a TLS client
    // (tls.client.authServer=false: it does not verify the name server).
    spec.broker_config("-Dtls.enable", "true")
}

// ----- the shared clusters ---------------------------------------------------------

/// An enforcing TLS cluster of one broker line, with the CA that signed its
/// certificate. Never dropped (a static): [`clean_up_at_exit`] stops it.
struct TlsCluster {
    namesrv: String,
    pki: Pki,
    /// Keeps the JVMs running while the binary runs.
    _cluster: StdMutex<Cluster>,
}

impl TlsCluster {
    /// TLS verified against the cluster's CA.
    fn verified(&self) -> TlsConfig {
        TlsConfig::new().ca_pem(self.pki.ca_pem.clone())
    }

    /// An admin over verified TLS.
    async fn admin(&self) -> Admin {
        Admin::connect_with_tls(&self.namesrv, None, Some(self.verified()))
            .await
            .unwrap()
    }
}

static CLUSTER_V5: OnceCell<TlsCluster> = OnceCell::const_new();
static CLUSTER_V4: OnceCell<TlsCluster> = OnceCell::const_new();

/// One cluster start at a time: the machine also runs the shared ones.
static STARTING: Mutex<()> = Mutex::const_new(());

/// The certificate directories of the clusters started, removed at exit.
static PKI_DIRS: StdMutex<Vec<PathBuf>> = StdMutex::new(Vec::new());

extern "C" {
    fn atexit(callback: extern "C" fn()) -> i32;
}

/// Kills the shared clusters' JVMs and removes their certificates when the
/// test binary exits (statics are never dropped).
extern "C" fn clean_up_at_exit() {
    rmq_tests::kill_all_started();
    for dir in PKI_DIRS.lock().map(|d| d.clone()).unwrap_or_default() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The enforcing TLS cluster of `version`, started on first use.
async fn tls_cluster(version: BrokerVersion) -> &'static TlsCluster {
    let cell = match version {
        BrokerVersion::V5 => &CLUSTER_V5,
        BrokerVersion::V4 => &CLUSTER_V4,
    };
    cell.get_or_init(|| start_tls_cluster(version)).await
}

async fn start_tls_cluster(version: BrokerVersion) -> TlsCluster {
    let _one = STARTING.lock().await;
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a plain function with the C runtime.
    AT_EXIT.call_once(|| unsafe {
        atexit(clean_up_at_exit);
    });
    let pki = Pki::generate();
    PKI_DIRS.lock().unwrap().push(pki.dir.clone());
    let spec = tls_spec(version, &pki);
    let t0 = Instant::now();
    let cluster = blocking(move || Cluster::start(spec)).await.unwrap();
    let namesrv = cluster.namesrv_addr();
    let tls = TlsCluster {
        namesrv,
        pki,
        _cluster: StdMutex::new(cluster),
    };
    // The harness cannot see the registration through a TLS name server.
    let admin = tls.admin().await;
    wait_for_master(&admin).await;
    admin.shutdown().await.unwrap();
    eprintln!("[tls] {version} cluster up in {:?}", t0.elapsed());
    tls
}

/// A new topic of `queues` queues, routed.
async fn new_topic(admin: &Admin, name: &str, queues: i32) -> String {
    let topic = unique(name);
    admin
        .create_topic(&TopicConfig::new(&topic).queues(queues))
        .await
        .unwrap();
    wait_for_route(admin, &topic, Duration::from_secs(15)).await;
    topic
}

/// Sends `n` messages to `topic` over verified TLS; returns their bodies.
async fn send_over_tls(c: &TlsCluster, topic: &str, n: usize) -> Vec<String> {
    let p = tls_producer(&c.namesrv, Some(c.verified())).await;
    let mut sent = Vec::new();
    for i in 0..n {
        let body = format!("{topic} {i}");
        let r = p.send(Message::new(topic, body.clone())).await.unwrap();
        assert_eq!(r.status, SendStatus::Ok);
        sent.push(body);
    }
    p.shutdown().await.unwrap();
    sent
}

fn sorted_bodies<'a>(bodies: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    let mut out: Vec<String> = bodies
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    out.sort();
    out
}

/// Waits until the name server (over TLS) knows a master broker: the
/// harness cannot see the registration through a TLS name server.
async fn wait_for_master(admin: &Admin) {
    let start = Instant::now();
    loop {
        if let Ok(info) = admin.cluster_info().await {
            let any = info
                .cluster_addr_table
                .iter()
                .any(|(name, _)| !info.master_addrs(name).is_empty());
            if any {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the broker never registered with the TLS name server"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn tls_producer(namesrv: &str, tls: Option<TlsConfig>) -> Producer {
    let mut b = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg_tls"))
        .retries(0)
        .send_timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        b = b.tls(tls);
    }
    let p = b.build().unwrap();
    p.start().await.unwrap();
    p
}

/// Sends once and returns the error, which must come in bounded time.
async fn refused_send(namesrv: &str, tls: Option<TlsConfig>, topic: &str) -> (Error, Duration) {
    let p = tls_producer(namesrv, tls).await;
    let t0 = Instant::now();
    let result = tokio::time::timeout(REFUSAL_BOUND, p.send(Message::new(topic, "refused")))
        .await
        .expect("a refused client must not hang");
    let took = t0.elapsed();
    p.shutdown().await.unwrap();
    match result {
        Err(e) => (e, took),
        Ok(r) => panic!("expected a refusal, the send succeeded: {r:?}"),
    }
}

/// The text of `e` with its connection reasons.
fn reason(e: &Error) -> String {
    e.to_string()
}

async fn enforcing_tls_cluster_serves_verified_clients_and_refuses_others(version: BrokerVersion) {
    let cluster = tls_cluster(version).await;
    let namesrv = cluster.namesrv.clone();

    // (1) A verified admin (CA given, name = the dialled IP) sees the broker
    // register and creates the topic over TLS.
    let admin = cluster.admin().await;
    wait_for_master(&admin).await;
    let topic = new_topic(&admin, "tls_topic", 2).await;

    // (2) A producer and a push consumer exchange messages over TLS.
    let sent = send_over_tls(cluster, &topic, 3).await;
    let seen: Arc<StdMutex<Vec<String>>> = Arc::default();
    let consumer = PushConsumer::builder()
        .name_server(&namesrv)
        .group(unique("cg_tls"))
        .consume_from(ConsumeFrom::First)
        .tls(cluster.verified())
        .build()
        .unwrap();
    let log = Arc::clone(&seen);
    consumer
        .subscribe(&topic, Selector::tag("*"), move |msgs| {
            let log = Arc::clone(&log);
            async move {
                let mut l = log.lock().unwrap();
                l.extend(
                    msgs.iter()
                        .map(|m| String::from_utf8_lossy(m.body()).into_owned()),
                );
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    let start = Instant::now();
    while seen.lock().unwrap().len() < sent.len() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown().await.unwrap();
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(
        got, sent,
        "the consumer got what the producer sent over TLS"
    );

    // (3) A client trusting another CA is refused, in bounded time, with
    // the reason in the error.
    let wrong = TlsConfig::new().ca_pem(unrelated_ca_pem());
    let (e, took) = refused_send(&namesrv, Some(wrong), &topic).await;
    eprintln!("[tls] wrong CA after {took:?}: {e}");
    assert!(
        reason(&e).contains("certificate verify failed: unknown issuer"),
        "{e:?}"
    );

    // (4) The explicit opt-out connects to a server of an unknown CA.
    let insecure = tls_producer(&namesrv, Some(TlsConfig::new().insecure_skip_verify())).await;
    let r = insecure
        .send(Message::new(topic.as_str(), "unverified"))
        .await
        .unwrap();
    assert_eq!(r.status, SendStatus::Ok);
    insecure.shutdown().await.unwrap();

    // (5) A plaintext client is refused, in bounded time, with a typed error.
    let (e, took) = refused_send(&namesrv, None, &topic).await;
    eprintln!("[tls] plaintext after {took:?}: {e:?}");
    // The name server closes the connection: the route query fails and the
    // send says so (NoRoute, the connection's reason inside).
    assert!(
        matches!(e, Error::Connection { .. } | Error::NoRoute { .. }),
        "{e:?}"
    );
    assert!(took < REFUSAL_BOUND, "{took:?}");

    admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn enforcing_tls_cluster_serves_verified_clients_and_refuses_others_on_5x() {
    enforcing_tls_cluster_serves_verified_clients_and_refuses_others(BrokerVersion::V5).await;
}

#[tokio::test]
async fn enforcing_tls_cluster_serves_verified_clients_and_refuses_others_on_4x() {
    enforcing_tls_cluster_serves_verified_clients_and_refuses_others(BrokerVersion::V4).await;
}

// ----- the lite pull consumer --------------------------------------------------------

async fn a_lite_pull_consumer_over_tls_reads_what_was_sent(version: BrokerVersion) {
    let cluster = tls_cluster(version).await;
    let admin = cluster.admin().await;
    let topic = new_topic(&admin, "tls_lite", 2).await;
    let sent = send_over_tls(cluster, &topic, 3).await;

    let c = LitePullConsumer::builder()
        .name_server(&cluster.namesrv)
        .group(unique("cg_tls_lite"))
        .consume_from(ConsumeFrom::First)
        .tls(cluster.verified())
        .build()
        .unwrap();
    c.subscribe(&topic, Selector::all()).unwrap();
    c.start().await.unwrap();
    let start = Instant::now();
    let mut got: Vec<MessageExt> = Vec::new();
    while got.len() < sent.len() && start.elapsed() < Duration::from_secs(30) {
        got.extend(c.poll(Duration::from_millis(500)).await.unwrap());
    }
    c.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
    assert_eq!(
        sorted_bodies(got.iter().map(|m| &m.body()[..])),
        sent,
        "the lite pull consumer read over TLS what was sent"
    );
}

#[tokio::test]
async fn a_lite_pull_consumer_over_tls_reads_what_was_sent_on_5x() {
    a_lite_pull_consumer_over_tls_reads_what_was_sent(BrokerVersion::V5).await;
}

#[tokio::test]
async fn a_lite_pull_consumer_over_tls_reads_what_was_sent_on_4x() {
    a_lite_pull_consumer_over_tls_reads_what_was_sent(BrokerVersion::V4).await;
}

// ----- the simple consumer (POP, 5.x) ------------------------------------------------

#[tokio::test]
async fn a_simple_consumer_over_tls_receives_and_acks() {
    let cluster = tls_cluster(BrokerVersion::V5).await;
    let admin = cluster.admin().await;
    let topic = new_topic(&admin, "tls_pop", 1).await;
    let sent = send_over_tls(cluster, &topic, 2).await;

    let c = SimpleConsumer::builder()
        .name_server(&cluster.namesrv)
        .group(unique("cg_tls_pop"))
        .subscribe(topic.as_str(), Selector::all())
        .await_duration(Duration::from_secs(2))
        .tls(cluster.verified())
        .build()
        .unwrap();
    c.start().await.unwrap();
    let invisible = Duration::from_secs(30);
    let start = Instant::now();
    let mut got: Vec<ReceivedMessage> = Vec::new();
    while got.len() < sent.len() && start.elapsed() < Duration::from_secs(30) {
        got.extend(c.receive(32, invisible).await.unwrap());
    }
    assert_eq!(sorted_bodies(got.iter().map(|m| m.body())), sent);
    for m in &got {
        c.ack(m).await.expect("the ack is taken over TLS");
    }
    // Acknowledged (and invisible anyway): nothing more comes.
    let more = c.receive(32, invisible).await.unwrap();
    assert!(more.is_empty(), "{} more", more.len());
    c.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

// ----- the trace producer ------------------------------------------------------------

async fn a_traced_send_over_tls_writes_its_trace_record(version: BrokerVersion) {
    let cluster = tls_cluster(version).await;
    let admin = cluster.admin().await;
    let topic = new_topic(&admin, "tls_traced", 1).await;
    // A trace topic of its own: the broker runs without traceTopicEnable.
    let trace_topic = new_topic(&admin, "tls_trace", 1).await;
    let group = unique("pg_tls_trace");
    let p = Producer::builder()
        .name_server(&cluster.namesrv)
        .group(group.as_str())
        .tls(cluster.verified())
        .trace(TraceConfig::with_topic(trace_topic.as_str()))
        .build()
        .unwrap();
    p.start().await.unwrap();
    let sent = p
        .send(Message::new(topic.as_str(), "traced over tls"))
        .await
        .unwrap();
    // The shutdown sends the queued trace record (bounded).
    p.shutdown().await.unwrap();
    assert_eq!(p.traces_dropped(), 0);

    let start = Instant::now();
    let records = loop {
        let records = admin
            .message_trace(&sent.msg_id, Some(&trace_topic))
            .await
            .unwrap_or_default();
        if !records.is_empty() || start.elapsed() > Duration::from_secs(20) {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    admin.shutdown().await.unwrap();
    let [TraceRecord::Pub(record)] = records.as_slice() else {
        panic!("expected the send's Pub record in {trace_topic}, got {records:?}");
    };
    assert_eq!(record.msg_id, sent.msg_id);
    assert_eq!(record.topic, topic);
    assert_eq!(record.group, group);
    assert!(record.success);
}

#[tokio::test]
async fn a_traced_send_over_tls_writes_its_trace_record_on_5x() {
    a_traced_send_over_tls_writes_its_trace_record(BrokerVersion::V5).await;
}

#[tokio::test]
async fn a_traced_send_over_tls_writes_its_trace_record_on_4x() {
    a_traced_send_over_tls_writes_its_trace_record(BrokerVersion::V4).await;
}
