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
//!
//! A second cluster per broker line requires client certificates (mutual
//! TLS): its name server and broker run with
//! `-Dtls.server.need.client.auth=require` (netty's `ClientAuth` name:
//! `required` is silently taken as `none`), `-Dtls.server.authClient=true`
//! and `-Dtls.server.trustCertPath` (the CA; without authClient any client
//! certificate would do), and the broker registers with its name server
//! presenting one of its own (`-Dtls.client.certPath`/`keyPath`). The CLI's
//! `--tls-cert`/`--tls-key` are tested against it too.

mod cli_support;
mod producer_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use producer_support::{poll_until, trace_of, unique, wait_for_route};
use rmq::rmq_core::trace::TraceRecord;
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, Error, LitePullConsumer, Message, Producer, PushConsumer,
    ReceivedMessage, Selector, SendStatus, SimpleConsumer, TlsConfig, TopicConfig, TraceConfig,
};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
use tokio::sync::{Mutex, OnceCell};

/// Every refusal must come within this (the connect timeout is 3 s).
const REFUSAL_BOUND: Duration = Duration::from_secs(15);

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A CA with a server and a client certificate it signed, as PEM files in
/// a fresh directory (`ca.pem`, `server.pem`/`.key`, `client.pem`/`.key`).
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    client: ClientPem,
}

/// A client certificate and its private key, as PEM.
#[derive(Clone)]
struct ClientPem {
    cert: String,
    key: String,
}

impl ClientPem {
    /// A client certificate signed by `issuer`.
    fn signed_by(issuer: &rcgen::Issuer<'_, impl rcgen::SigningKey>) -> ClientPem {
        use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["rmq-test-client".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, issuer).unwrap();
        ClientPem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

impl Pki {
    fn generate() -> Pki {
        use rcgen::{CertificateParams, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let ca_params = ca_params("rmq test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_key = KeyPair::generate().unwrap();
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let server = CertificateParams::new(names)
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let client = ClientPem::signed_by(&issuer);
        let dir = std::env::temp_dir().join(unique("rmq-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
        // rcgen writes PKCS#8, which RocketMQ's TlsHelper (netty) reads.
        std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("client.pem"), &client.cert).unwrap();
        std::fs::write(dir.join("client.key"), &client.key).unwrap();
        Pki {
            dir,
            ca_pem: ca_cert.pem(),
            client,
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

/// A client certificate signed by another CA than the cluster's.
fn unrelated_client() -> ClientPem {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = ca_params("unrelated client CA");
    ClientPem::signed_by(&rcgen::Issuer::from_params(&params, &key))
}

/// The server side of RocketMQ's TLS (TlsSystemConfig): enforcing, the
/// given certificate (not the test mode's throw-away one), no
/// `/etc/rocketmq/tls.properties` in the way, and client certificates
/// either not asked for or (`mtls`) required, verified against the CA and
/// presented by the broker to its name server.
fn server_tls_props(pki: &Pki, mtls: bool) -> Vec<(&'static str, String)> {
    let mut props = vec![
        ("tls.server.mode", "enforcing".into()),
        ("tls.test.mode.enable", "false".into()),
        ("tls.server.certPath", pki.path("server.pem")),
        ("tls.server.keyPath", pki.path("server.key")),
        ("tls.config.file", pki.path("absent-tls.properties")),
    ];
    if mtls {
        props.extend([
            // netty's ClientAuth: NONE, OPTIONAL or REQUIRE ("required" is
            // silently NONE).
            ("tls.server.need.client.auth", "require".into()),
            // Verify client certificates against the CA (false: any will do).
            ("tls.server.authClient", "true".into()),
            ("tls.server.trustCertPath", pki.path("ca.pem")),
            // The broker's own certificate for its name server.
            ("tls.client.certPath", pki.path("client.pem")),
            ("tls.client.keyPath", pki.path("client.key")),
        ]);
    } else {
        props.push(("tls.server.need.client.auth", "none".into()));
    }
    props
}

fn tls_spec(version: BrokerVersion, pki: &Pki, mtls: bool) -> ClusterSpec {
    let mut spec = ClusterSpec::with_free_ports(version).unwrap();
    for (k, v) in server_tls_props(pki, mtls) {
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
    /// Whether it requires client certificates.
    mtls: bool,
    /// Keeps the JVMs running while the binary runs.
    _cluster: StdMutex<Cluster>,
}

impl TlsCluster {
    /// TLS verified against the cluster's CA, presenting a client
    /// certificate of that CA when the cluster requires one.
    fn verified(&self) -> TlsConfig {
        let tls = TlsConfig::new().ca_pem(self.pki.ca_pem.clone());
        if self.mtls {
            let client = &self.pki.client;
            tls.client_certificate(client.cert.clone(), client.key.clone())
        } else {
            tls
        }
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
static MTLS_CLUSTER_V5: OnceCell<TlsCluster> = OnceCell::const_new();
static MTLS_CLUSTER_V4: OnceCell<TlsCluster> = OnceCell::const_new();

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
    shared_cluster(version, false).await
}

/// The enforcing TLS cluster of `version` that requires client
/// certificates, started on first use.
async fn mtls_cluster(version: BrokerVersion) -> &'static TlsCluster {
    shared_cluster(version, true).await
}

/// The shared cluster of `version` (requiring client certificates when
/// `mtls`), started on first use.
async fn shared_cluster(version: BrokerVersion, mtls: bool) -> &'static TlsCluster {
    let cell = match (version, mtls) {
        (BrokerVersion::V5, false) => &CLUSTER_V5,
        (BrokerVersion::V4, false) => &CLUSTER_V4,
        (BrokerVersion::V5, true) => &MTLS_CLUSTER_V5,
        (BrokerVersion::V4, true) => &MTLS_CLUSTER_V4,
    };
    cell.get_or_init(|| start_tls_cluster(version, mtls)).await
}

async fn start_tls_cluster(version: BrokerVersion, mtls: bool) -> TlsCluster {
    let _one = STARTING.lock().await;
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a plain function with the C runtime.
    AT_EXIT.call_once(|| unsafe {
        atexit(clean_up_at_exit);
    });
    let pki = Pki::generate();
    PKI_DIRS.lock().unwrap().push(pki.dir.clone());
    let spec = tls_spec(version, &pki, mtls);
    let t0 = Instant::now();
    let cluster = blocking(move || Cluster::start(spec)).await.unwrap();
    let namesrv = cluster.namesrv_addr();
    let tls = TlsCluster {
        namesrv,
        pki,
        mtls,
        _cluster: StdMutex::new(cluster),
    };
    // The harness cannot see the registration through a TLS name server.
    let admin = tls.admin().await;
    wait_for_master(&admin).await;
    admin.shutdown().await.unwrap();
    let kind = if mtls { "mutual TLS" } else { "TLS" };
    eprintln!("[tls] {version} {kind} cluster up in {:?}", t0.elapsed());
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

/// Reads `topic` from the first offset with a lite pull consumer of a
/// fresh group (`group` and a suffix) over verified TLS until `n` messages
/// came or 30 s passed; returns their bodies, sorted.
async fn lite_pull_over_tls(c: &TlsCluster, group: &str, topic: &str, n: usize) -> Vec<String> {
    let consumer = LitePullConsumer::builder()
        .name_server(&c.namesrv)
        .group(unique(group))
        .consume_from(ConsumeFrom::First)
        .tls(c.verified())
        .build()
        .unwrap();
    consumer.subscribe(topic, Selector::all()).unwrap();
    consumer.start().await.unwrap();
    let got = poll_until(&consumer, n, Duration::from_secs(30)).await;
    consumer.shutdown().await.unwrap();
    sorted_bodies(got.iter().map(|m| &m.body()[..]))
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

/// A refusal is a typed connection (or, the route query failing, no-route)
/// error that came within [`REFUSAL_BOUND`].
fn assert_refused_in_time(e: &Error, took: Duration) {
    assert!(
        matches!(e, Error::Connection { .. } | Error::NoRoute { .. }),
        "{e:?}"
    );
    assert!(took < REFUSAL_BOUND, "{took:?}");
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
    assert_refused_in_time(&e, took);

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

    let got = lite_pull_over_tls(cluster, "cg_tls_lite", &topic, sent.len()).await;
    admin.shutdown().await.unwrap();
    assert_eq!(
        got, sent,
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

    let records = trace_of(&admin, &sent.msg_id, Some(&trace_topic), 1).await;
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

// ----- client certificates (mutual TLS) ------------------------------------------------

async fn a_broker_requiring_client_certificates_accepts_one_signed_by_its_ca(
    version: BrokerVersion,
) {
    let cluster = mtls_cluster(version).await;
    // The admin (name server and broker) presents the client certificate.
    let admin = cluster.admin().await;
    let topic = new_topic(&admin, "mtls_topic", 2).await;
    let sent = send_over_tls(cluster, &topic, 3).await;

    let got = lite_pull_over_tls(cluster, "cg_mtls", &topic, sent.len()).await;
    admin.shutdown().await.unwrap();
    assert_eq!(
        got, sent,
        "the consumer read over mutual TLS what the producer sent"
    );
}

#[tokio::test]
async fn a_broker_requiring_client_certificates_accepts_one_signed_by_its_ca_on_5x() {
    a_broker_requiring_client_certificates_accepts_one_signed_by_its_ca(BrokerVersion::V5).await;
}

#[tokio::test]
async fn a_broker_requiring_client_certificates_accepts_one_signed_by_its_ca_on_4x() {
    a_broker_requiring_client_certificates_accepts_one_signed_by_its_ca(BrokerVersion::V4).await;
}

async fn a_broker_requiring_client_certificates_refuses_a_client_without_one(
    version: BrokerVersion,
) {
    let cluster = mtls_cluster(version).await;
    let admin = cluster.admin().await;
    let topic = new_topic(&admin, "mtls_refused", 1).await;
    admin.shutdown().await.unwrap();

    // The server's CA trusted, no client certificate: refused in bounded
    // time with a typed error.
    let no_cert = TlsConfig::new().ca_pem(cluster.pki.ca_pem.clone());
    let (e, took) = refused_send(&cluster.namesrv, Some(no_cert), &topic).await;
    eprintln!("[tls] {version} no client certificate after {took:?}: {e}");
    // TLS 1.3: the server's alert (netty sends bad_certificate) comes with
    // the first read after the handshake; the name server's refusal fails
    // the route query.
    assert_refused_in_time(&e, took);
    assert!(
        reason(&e)
            .contains("the server requires a client certificate (TlsConfig::client_certificate)"),
        "{e}"
    );

    // A client certificate of another CA: refused too (authClient=true).
    let stranger = unrelated_client();
    let other_ca = TlsConfig::new()
        .ca_pem(cluster.pki.ca_pem.clone())
        .client_certificate(stranger.cert, stranger.key);
    let (e, took) = refused_send(&cluster.namesrv, Some(other_ca), &topic).await;
    eprintln!("[tls] {version} client certificate of another CA after {took:?}: {e}");
    assert_refused_in_time(&e, took);
    assert!(
        reason(&e).contains("the server did not accept the client certificate"),
        "{e}"
    );
}

#[tokio::test]
async fn a_broker_requiring_client_certificates_refuses_a_client_without_one_on_5x() {
    a_broker_requiring_client_certificates_refuses_a_client_without_one(BrokerVersion::V5).await;
}

#[tokio::test]
async fn a_broker_requiring_client_certificates_refuses_a_client_without_one_on_4x() {
    a_broker_requiring_client_certificates_refuses_a_client_without_one(BrokerVersion::V4).await;
}

// ----- the CLI's --tls-cert / --tls-key ---------------------------------------------------

/// Runs the `rmq` CLI with `args` and `env` (bounded); its exit code and
/// output.
async fn run_cli(
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> (Option<i32>, String, String) {
    blocking(move || {
        let mut child = Command::new(cli_support::rmq_cli())
            .args(&args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the rmq binary runs");
        let out = cli_support::drain(child.stdout.take().unwrap());
        let err = cli_support::drain(child.stderr.take().unwrap());
        let status = cli_support::wait_bounded(&mut child, Duration::from_secs(60));
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let text = |h: std::thread::JoinHandle<Vec<u8>>| {
            String::from_utf8_lossy(&h.join().unwrap()).into_owned()
        };
        (status.map(|s| s.code().unwrap_or(-1)), text(out), text(err))
    })
    .await
}

#[tokio::test]
async fn the_cli_sends_with_a_client_certificate_and_is_refused_without_one() {
    let cluster = mtls_cluster(BrokerVersion::V5).await;
    let admin = cluster.admin().await;
    let topic = new_topic(&admin, "mtls_cli", 1).await;
    admin.shutdown().await.unwrap();
    let pki = &cluster.pki;
    let common = |with_cert: bool| {
        let mut args = vec![
            "--namesrv".to_string(),
            cluster.namesrv.clone(),
            "--tls-ca".into(),
            pki.path("ca.pem"),
        ];
        if with_cert {
            args.extend([
                "--tls-cert".into(),
                pki.path("client.pem"),
                "--tls-key".into(),
                pki.path("client.key"),
            ]);
        }
        args.extend([
            "send".into(),
            "--topic".into(),
            topic.clone(),
            "--group".into(),
            unique("pg_mtls_cli"),
            "over mutual tls".into(),
        ]);
        args
    };

    let (code, out, err) = run_cli(common(true), vec![]).await;
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");

    let t0 = Instant::now();
    let (code, out, err) = run_cli(common(false), vec![]).await;
    eprintln!(
        "[tls] CLI without --tls-cert after {:?}: {err}",
        t0.elapsed()
    );
    assert_eq!(code, Some(1), "stdout: {out}\nstderr: {err}");
}

/// `--tls` without `--tls-ca` trusts the system's CA store, which
/// `SSL_CERT_FILE` replaces (as OpenSSL's): the cluster's CA there, the
/// send is verified; another CA there, it is refused.
#[tokio::test]
async fn the_cli_with_tls_and_no_ca_verifies_against_the_system_store() {
    let cluster = tls_cluster(BrokerVersion::V5).await;
    let admin = cluster.admin().await;
    let topic = new_topic(&admin, "tls_system_store", 1).await;
    admin.shutdown().await.unwrap();
    let args = || {
        vec![
            "--namesrv".to_string(),
            cluster.namesrv.clone(),
            "--tls".into(),
            "send".into(),
            "--topic".into(),
            topic.clone(),
            "--group".into(),
            unique("pg_tls_store"),
            "verified by the system store".into(),
        ]
    };

    let store = vec![("SSL_CERT_FILE", cluster.pki.path("ca.pem"))];
    let (code, out, err) = run_cli(args(), store).await;
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");

    let other = cluster.pki.path("unrelated-ca.pem");
    std::fs::write(&other, unrelated_ca_pem()).unwrap();
    let (code, out, err) = run_cli(args(), vec![("SSL_CERT_FILE", other)]).await;
    assert_eq!(code, Some(1), "stdout: {out}\nstderr: {err}");
    assert!(err.contains("unknown issuer"), "{err}");
}
