//! TLS between rmq and real brokers: a private cluster whose name server
//! and broker enforce TLS (`-Dtls.server.mode=enforcing`, a CA and a server
//! certificate generated here with rcgen at run time, SANs `127.0.0.1` and
//! `localhost`), the broker registering with the name server over TLS
//! (`-Dtls.enable=true`).
//!
//! One test per broker line runs its steps in order on one cluster (a
//! RocketMQ start costs ~15 s on 2 cores); the tests of this file run one
//! at a time.

mod producer_support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use producer_support::{unique, wait_for_route};
use rmq::{
    Admin, ConsumeFrom, ConsumeResult, Error, Message, Producer, PushConsumer, Selector,
    SendStatus, TlsConfig, TopicConfig,
};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
use tokio::sync::Mutex;

/// One private cluster at a time: the machine also runs the shared ones.
static SERIAL: Mutex<()> = Mutex::const_new(());

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

fn verified(pki: &Pki) -> TlsConfig {
    TlsConfig::new().ca_pem(pki.ca_pem.clone())
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
    let _serial = SERIAL.lock().await;
    let pki = Pki::generate();
    let spec = tls_spec(version, &pki);
    let cluster = blocking(move || Cluster::start(spec)).await.unwrap();
    let namesrv = cluster.namesrv_addr();

    // (1) A verified admin (CA given, name = the dialled IP) sees the broker
    // register and creates the topic over TLS.
    let admin = Admin::connect_with_tls(&namesrv, None, Some(verified(&pki)))
        .await
        .unwrap();
    wait_for_master(&admin).await;
    let topic = unique("tls_topic");
    admin
        .create_topic(&TopicConfig::new(&topic).queues(2))
        .await
        .unwrap();
    wait_for_route(&admin, &topic, Duration::from_secs(15)).await;

    // (2) A producer and a push consumer exchange messages over TLS.
    let p = tls_producer(&namesrv, Some(verified(&pki))).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        let r = p
            .send(Message::new(topic.as_str(), format!("over tls {i}")))
            .await
            .unwrap();
        assert_eq!(r.status, SendStatus::Ok);
        sent.push(format!("over tls {i}"));
    }
    p.shutdown().await.unwrap();
    let seen: Arc<StdMutex<Vec<String>>> = Arc::default();
    let consumer = PushConsumer::builder()
        .name_server(&namesrv)
        .group(unique("cg_tls"))
        .consume_from(ConsumeFrom::First)
        .tls(verified(&pki))
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
    blocking(move || cluster.stop()).await.unwrap();
    drop(pki);
}

#[tokio::test]
async fn enforcing_tls_cluster_serves_verified_clients_and_refuses_others_on_5x() {
    enforcing_tls_cluster_serves_verified_clients_and_refuses_others(BrokerVersion::V5).await;
}

#[tokio::test]
async fn enforcing_tls_cluster_serves_verified_clients_and_refuses_others_on_4x() {
    enforcing_tls_cluster_serves_verified_clients_and_refuses_others(BrokerVersion::V4).await;
}
