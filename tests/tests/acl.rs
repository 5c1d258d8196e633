//! Request signing against real brokers with authentication on.
//!
//! - RocketMQ 4.9.7 with ACL 1.0 (`aclEnable=true`, accounts in
//!   `$ROCKETMQ_HOME/conf/plain_acl.yml`, no global white list, so every
//!   request to the broker must carry a valid `AccessKey`/`Signature`).
//! - RocketMQ 5.5.0 with ACL 2.0 authentication (`authenticationEnabled=true`,
//!   the local metadata provider and the initial super user).
//!
//! One cluster per broker line serves the whole binary (the accounts are
//! part of its startup configuration; a RocketMQ start costs ~15 s on 2
//! cores): the first test that needs it starts it, the others reuse it, and
//! the binary kills its JVMs when it exits. The tests of this file run one
//! at a time, each on topics of its own.

mod producer_support;

use std::time::Duration;

use std::sync::Mutex as StdMutex;

use producer_support::{
    committed_offset, create_topic, read_queue, read_queue_until, read_topic, unique,
    wait_for_route,
};
use rmq::{
    AclCredentials, Admin, ConsumeFrom, ConsumeResult, Error, LitePullConsumer, Message,
    MessageExt, Producer, PushConsumer, Selector, SendStatus, SerializeType, TopicConfig,
    TransactionListener, TransactionProducer, TransactionState,
};
use rmq_tests::{BrokerVersion, Cluster, ClusterSpec};
use tokio::sync::{Mutex, OnceCell};

/// One test at a time: the machine also runs the shared clusters.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// An ACL cluster of one broker line. Never dropped (a static):
/// [`kill_clusters_at_exit`] stops it.
struct AclCluster {
    namesrv: String,
    broker: String,
    /// Keeps the JVMs running while the binary runs.
    _cluster: StdMutex<Cluster>,
}

static CLUSTER_V4: OnceCell<AclCluster> = OnceCell::const_new();
static CLUSTER_V5: OnceCell<AclCluster> = OnceCell::const_new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> i32;
}

/// Kills the shared clusters' JVMs when the test binary exits (statics are
/// never dropped).
extern "C" fn kill_clusters_at_exit() {
    rmq_tests::kill_all_started();
}

/// The ACL cluster of `version` (4.9.7: ACL 1.0 with [`plain_acl_yml`];
/// 5.5.0: ACL 2.0 authentication and authorization), started on first use.
async fn acl_cluster(version: BrokerVersion) -> &'static AclCluster {
    let (cell, spec): (_, fn() -> ClusterSpec) = match version {
        BrokerVersion::V4 => (&CLUSTER_V4, acl_1_0_spec),
        BrokerVersion::V5 => (&CLUSTER_V5, acl_2_0_spec),
    };
    cell.get_or_init(|| async move {
        static AT_EXIT: std::sync::Once = std::sync::Once::new();
        // SAFETY: registers a plain function with the C runtime.
        AT_EXIT.call_once(|| unsafe {
            atexit(kill_clusters_at_exit);
        });
        let cluster = start_cluster(spec()).await;
        AclCluster {
            namesrv: cluster.namesrv_addr(),
            broker: cluster.broker_addr(),
            _cluster: StdMutex::new(cluster),
        }
    })
    .await
}

const SEND_TIMEOUT: Duration = Duration::from_secs(5);

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

async fn start_cluster(spec: ClusterSpec) -> Cluster {
    blocking(move || Cluster::start(spec)).await.unwrap()
}

/// A started producer of a fresh group, signing with `creds` when given.
async fn producer(namesrv: &str, creds: Option<(&str, &str)>, ser: SerializeType) -> Producer {
    let mut builder = Producer::builder()
        .name_server(namesrv)
        .group(unique("pg_acl"))
        .retries(0)
        .serialize_type(ser)
        .send_timeout(SEND_TIMEOUT);
    if let Some((ak, sk)) = creds {
        builder = builder.credentials(ak, sk);
    }
    let producer = builder.build().unwrap();
    producer.start().await.unwrap();
    producer
}

/// The body of every message a refused client tried to store.
const REFUSED_BODY: &str = "must not be stored";

/// Sends one message and returns the remark of the broker's refusal, which
/// must be [`Error::PermissionDenied`]; panics on success or on any other
/// kind of error.
async fn refused_send(namesrv: &str, creds: Option<(&str, &str)>, topic: &str) -> String {
    let p = producer(namesrv, creds, SerializeType::Json).await;
    let result = p.send(Message::new(topic, REFUSED_BODY)).await;
    p.shutdown().await.unwrap();
    match result {
        Err(Error::PermissionDenied { remark, .. }) => {
            eprintln!("[acl] credentials {creds:?} on {topic}: denied, remark {remark:?}");
            remark
        }
        other => panic!("expected a permission refusal for {creds:?}, got {other:?}"),
    }
}

/// Sends with `creds` and header format `ser` (tags, keys and a non-ASCII
/// property make the signed content non-trivial), checks the result, reads
/// the message back through a signed admin client, and returns the stored
/// body.
async fn signed_send_reads_back(
    namesrv: &str,
    admin: &Admin,
    creds: (&str, &str),
    ser: SerializeType,
    topic: &str,
) -> Vec<u8> {
    let p = producer(namesrv, Some(creds), ser).await;
    let body = format!("signed by {}", creds.0);
    let msg = Message::new(topic, body.clone())
        .with_tags("TagA")
        .with_keys(["k1", "k2"])
        .with_property("note", "grüße ✓");
    let r = p.send(msg).await.unwrap();
    p.shutdown().await.unwrap();
    assert_eq!(r.status, SendStatus::Ok);
    let stored = read_queue_until(admin, &r.queue, 1).await;
    let m = stored
        .iter()
        .find(|m| m.queue_offset == r.queue_offset)
        .unwrap_or_else(|| panic!("message at {} not read back: {stored:?}", r.queue_offset));
    assert_eq!(m.property("note"), Some("grüße ✓"));
    m.body().to_vec()
}

/// Who may do what on one ACL cluster, as (access key or user, secret).
struct Accounts {
    /// May create topics.
    admin: (&'static str, &'static str),
    /// May publish to the topic (and run transactions on it).
    publisher: (&'static str, &'static str),
    /// May subscribe to the topic (pull, commit offsets).
    subscriber: (&'static str, &'static str),
    /// Signs correctly, may not publish to the topic.
    no_publish: (&'static str, &'static str),
    /// Signs correctly, may not subscribe to the topic.
    no_subscribe: (&'static str, &'static str),
}

fn creds((ak, sk): (&str, &str)) -> AclCredentials {
    AclCredentials::new(ak, sk)
}

/// An admin client signing with `account` (access key or user, secret).
async fn signed_admin(namesrv: &str, account: (&str, &str)) -> Admin {
    Admin::connect_with(namesrv, Some(creds(account)))
        .await
        .unwrap()
}

/// Commits every transaction.
struct CommitAll;

impl TransactionListener for CommitAll {
    fn execute_local(&self, _message: &Message) -> TransactionState {
        TransactionState::Commit
    }

    fn check_local(&self, _message: &MessageExt) -> TransactionState {
        TransactionState::Commit
    }
}

fn bodies(msgs: &[MessageExt]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(m.body()).into_owned())
        .collect()
}

/// The request kinds beyond a plain send, signed: Admin topic create (admin
/// account), a transaction (publisher), push consume with committed offsets
/// (subscriber); then a send and a pull by accounts without the permission
/// are [`Error::PermissionDenied`] and nothing they sent is stored.
async fn every_request_kind_is_signed_and_unpermitted_ones_are_denied(
    namesrv: &str,
    topic: &str,
    acc: &Accounts,
) {
    // Admin: UPDATE_AND_CREATE_TOPIC through rmq::Admin::create_topic.
    let admin = signed_admin(namesrv, acc.admin).await;
    admin
        .create_topic(&TopicConfig::new(topic).queues(2))
        .await
        .unwrap();
    let table = wait_for_route(&admin, topic, Duration::from_secs(15)).await;

    // A transaction: the half message, END_TRANSACTION, visible.
    let tp = TransactionProducer::builder()
        .name_server(namesrv)
        .group(unique("tpg_acl"))
        .credentials(acc.publisher.0, acc.publisher.1)
        .send_timeout(SEND_TIMEOUT)
        .build_transactional(CommitAll)
        .unwrap();
    tp.start().await.unwrap();
    let r = tp
        .send_in_transaction(Message::new(topic, "tx committed"))
        .await
        .unwrap();
    assert_eq!(r.state, TransactionState::Commit);
    tp.shutdown().await.unwrap();
    let p = producer(namesrv, Some(acc.publisher), SerializeType::RocketMq).await;
    for i in 0..2 {
        let r = p.send(Message::new(topic, format!("plain {i}"))).await;
        assert_eq!(r.unwrap().status, SendStatus::Ok);
    }
    p.shutdown().await.unwrap();
    let expected = ["plain 0", "plain 1", "tx committed"];

    // Push consume (heartbeat, rebalance, pulls, offset commits).
    let group = unique("cg_acl");
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(&group)
        .consume_from(ConsumeFrom::First)
        .credentials(acc.subscriber.0, acc.subscriber.1)
        .config(|c| {
            c.rebalance_interval = Duration::from_secs(2);
            c.persist_interval = Duration::from_millis(500);
            c.pull_suspend = Duration::from_secs(2);
        })
        .build()
        .unwrap();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let log = std::sync::Arc::clone(&seen);
    consumer
        .subscribe(topic, Selector::tag("*"), move |msgs| {
            let log = std::sync::Arc::clone(&log);
            async move {
                log.lock().unwrap().extend(bodies(&msgs));
                ConsumeResult::Success
            }
        })
        .unwrap();
    consumer.start().await.unwrap();
    let start = std::time::Instant::now();
    while seen.lock().unwrap().len() < expected.len() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, expected, "the signed push consumer got every message");
    // Offsets: committed up to the end of every queue.
    for q in table.subscribe_queues() {
        let stored = read_queue(&admin, q).await.len() as i64;
        let start = std::time::Instant::now();
        loop {
            let committed = committed_offset(&admin, &table, &group, q).await;
            if stored == 0 || committed == Some(stored) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "queue {q:?}: committed {committed:?}, {stored} stored"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    consumer.shutdown().await.unwrap();

    // Without PUB on the topic: PermissionDenied.
    let remark = refused_send(namesrv, Some(acc.no_publish), topic).await;
    eprintln!("[acl] send without permission: {remark:?}");
    // Without SUB on the topic: PermissionDenied for a pull.
    let reader = signed_admin(namesrv, acc.no_subscribe).await;
    let q = table.subscribe_queues()[0].clone();
    match reader.pull(&unique("cg_acl_denied"), &q, 0, 1).await {
        Err(Error::PermissionDenied { remark, .. }) => {
            eprintln!("[acl] pull without permission: {remark:?}");
        }
        other => panic!("a pull without permission must be denied, got {other:?}"),
    }
    reader.shutdown().await.unwrap();

    // Nothing refused was stored.
    let stored = bodies(&read_topic(&admin, topic).await);
    assert!(!stored.iter().any(|b| b == REFUSED_BODY), "{stored:?}");
    let mut stored = stored;
    stored.sort();
    assert_eq!(stored, expected);
    admin.shutdown().await.unwrap();
}

// ----- 4.9.7, ACL 1.0 ------------------------------------------------------------

const TOPIC_4X: &str = "acl_topic_49";
/// The topic of the request kinds test (its stored messages are checked).
const TOPIC_4X_KINDS: &str = "acl_topic_49_kinds";
const ADMIN_AK: &str = "rmqAdminAK";
const ADMIN_SK: &str = "rmqAdminSecret";
const PUB_AK: &str = "rmqPubOnlyAK";
const PUB_SK: &str = "rmqPubOnlySecret";
const SUB_AK: &str = "rmqSubOnlyAK";
const SUB_SK: &str = "rmqSubOnlySecret";

/// Accounts: an admin with every permission; a normal account that may only
/// publish to [`TOPIC_4X`] and [`TOPIC_4X_KINDS`]; a normal account that may
/// only subscribe to them.
/// No white lists anywhere: every broker request must be signed.
fn plain_acl_yml() -> String {
    format!(
        "globalWhiteRemoteAddresses: []\n\
         accounts:\n\
         - accessKey: {ADMIN_AK}\n\
         \x20 secretKey: {ADMIN_SK}\n\
         \x20 admin: true\n\
         \x20 defaultTopicPerm: PUB|SUB\n\
         \x20 defaultGroupPerm: PUB|SUB\n\
         - accessKey: {PUB_AK}\n\
         \x20 secretKey: {PUB_SK}\n\
         \x20 admin: false\n\
         \x20 defaultTopicPerm: DENY\n\
         \x20 defaultGroupPerm: PUB|SUB\n\
         \x20 topicPerms:\n\
         \x20 - {TOPIC_4X}=PUB\n\
         \x20 - {TOPIC_4X_KINDS}=PUB\n\
         - accessKey: {SUB_AK}\n\
         \x20 secretKey: {SUB_SK}\n\
         \x20 admin: false\n\
         \x20 defaultTopicPerm: DENY\n\
         \x20 defaultGroupPerm: PUB|SUB\n\
         \x20 topicPerms:\n\
         \x20 - {TOPIC_4X}=SUB\n\
         \x20 - {TOPIC_4X_KINDS}=SUB\n"
    )
}

#[tokio::test]
async fn acl_1_0_broker_accepts_signed_requests_and_refuses_unsigned_wrong_or_unpermitted_ones_on_4x(
) {
    let _serial = SERIAL.lock().await;
    let namesrv = acl_cluster(BrokerVersion::V4).await.namesrv.clone();

    // A signed admin request creates the topic (an admin-only request code).
    let admin = signed_admin(&namesrv, (ADMIN_AK, ADMIN_SK)).await;
    create_topic(&admin, TOPIC_4X, 2).await;

    // (1) Right credentials with PUB on the topic: stored and read back by a
    // signed pull, with JSON and with binary (ROCKETMQ) headers.
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let body = signed_send_reads_back(&namesrv, &admin, (PUB_AK, PUB_SK), ser, TOPIC_4X).await;
        assert_eq!(body, format!("signed by {PUB_AK}").as_bytes());
    }

    // (2) The right access key with a wrong secret: the signature check fails.
    // 4.9.7: code 1 (SYSTEM_ERROR), remark "org.apache.rocketmq.acl.common.
    // AclException: Check signature failed for accessKey=rmqPubOnlyAK, …",
    // which rmq reports as PermissionDenied.
    let remark = refused_send(&namesrv, Some((PUB_AK, "wrongSecret1")), TOPIC_4X).await;
    assert!(
        remark.contains(&format!("Check signature failed for accessKey={PUB_AK}")),
        "{remark}"
    );

    // (3) No credentials at all.
    let remark = refused_send(&namesrv, None, TOPIC_4X).await;
    assert!(remark.contains("accessKey"), "remark {remark:?}");

    // (4) A valid signature, but the account may only subscribe.
    // 4.9.7: code 1, "…AclException: No default permission for
    // topic:acl_topic_49, …" (the same text whether the topic is listed
    // without PUB or not listed at all).
    let remark = refused_send(&namesrv, Some((SUB_AK, SUB_SK)), TOPIC_4X).await;
    assert!(
        remark.contains(&format!("No default permission for topic:{TOPIC_4X}")),
        "{remark}"
    );

    // An unsigned admin request is refused too (the harness's own probe path).
    let unsigned = Admin::connect(&namesrv).await.unwrap();
    let route = unsigned.topic_route(TOPIC_4X).await.unwrap();
    let q = rmq::RouteTable::new(TOPIC_4X, &route).subscribe_queues()[0].clone();
    match unsigned.pull("acl_reader", &q, 0, 1).await {
        Err(Error::PermissionDenied { remark, .. }) => {
            eprintln!("[acl] unsigned pull: remark {remark:?}");
            assert!(remark.contains("No accessKey is configured"), "{remark}");
        }
        other => panic!("an unsigned pull must be refused, got {other:?}"),
    }

    unsigned.shutdown().await.unwrap();
    admin.shutdown().await.unwrap();
}

/// A fresh 4.9.7 cluster with ACL 1.0 and the accounts of [`plain_acl_yml`].
fn acl_1_0_spec() -> ClusterSpec {
    ClusterSpec::with_free_ports(BrokerVersion::V4)
        .unwrap()
        .broker_config("aclEnable", "true")
        .home_file("conf/plain_acl.yml", plain_acl_yml())
}

#[tokio::test]
async fn acl_1_0_signs_admin_transaction_and_push_consumer_requests_and_denies_unpermitted_ones_on_4x(
) {
    let _serial = SERIAL.lock().await;
    let cluster = acl_cluster(BrokerVersion::V4).await;
    let accounts = Accounts {
        admin: (ADMIN_AK, ADMIN_SK),
        publisher: (PUB_AK, PUB_SK),
        subscriber: (SUB_AK, SUB_SK),
        no_publish: (SUB_AK, SUB_SK),
        no_subscribe: (PUB_AK, PUB_SK),
    };
    every_request_kind_is_signed_and_unpermitted_ones_are_denied(
        &cluster.namesrv,
        TOPIC_4X_KINDS,
        &accounts,
    )
    .await;
}

// ----- 5.5.0, ACL 2.0 authentication ----------------------------------------------

const SUPER_USER: &str = "rocketmq";
const SUPER_PASSWORD: &str = "12345678";

/// A fresh 5.5.0 cluster with ACL 2.0 authentication (the local metadata
/// provider and the initial super user [`SUPER_USER`]) and authorization.
fn acl_2_0_spec() -> ClusterSpec {
    ClusterSpec::with_free_ports(BrokerVersion::V5)
        .unwrap()
        .broker_config("authenticationEnabled", "true")
        .broker_config(
            "authenticationMetadataProvider",
            "org.apache.rocketmq.auth.authentication.provider.LocalAuthenticationMetadataProvider",
        )
        .broker_config(
            "initAuthenticationUser",
            format!("{{\"username\":\"{SUPER_USER}\",\"password\":\"{SUPER_PASSWORD}\"}}"),
        )
        .broker_config("authorizationEnabled", "true")
        .broker_config(
            "authorizationProvider",
            "org.apache.rocketmq.auth.authorization.provider.DefaultAuthorizationProvider",
        )
        .broker_config(
            "authorizationMetadataProvider",
            "org.apache.rocketmq.auth.authorization.provider.LocalAuthorizationMetadataProvider",
        )
}

#[tokio::test]
async fn acl_2_0_broker_authenticates_the_signed_super_user_and_refuses_others_on_5x() {
    let _serial = SERIAL.lock().await;
    let namesrv = acl_cluster(BrokerVersion::V5).await.namesrv.clone();
    let topic = unique("acl_topic_55");

    let admin = signed_admin(&namesrv, (SUPER_USER, SUPER_PASSWORD)).await;
    create_topic(&admin, &topic, 2).await;

    // Right user name and password: stored and read back.
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let creds = (SUPER_USER, SUPER_PASSWORD);
        let body = signed_send_reads_back(&namesrv, &admin, creds, ser, &topic).await;
        assert_eq!(body, format!("signed by {SUPER_USER}").as_bytes());
    }

    // 5.5.0 answers code 16 (NO_PERMISSION) with a short remark.
    let remark = refused_send(&namesrv, Some((SUPER_USER, "wrongPassword")), &topic).await;
    assert_eq!(remark, "check signature failed.");

    let remark = refused_send(&namesrv, Some(("nobody00", SUPER_PASSWORD)), &topic).await;
    assert_eq!(remark, "User:nobody00 is not found.");

    let remark = refused_send(&namesrv, None, &topic).await;
    assert_eq!(remark, "username cannot be null.");

    admin.shutdown().await.unwrap();
}

// ----- 5.5.0, ACL 2.0 authorization ------------------------------------------------

const PUB_USER: &str = "rmqpub55";
const PUB_PASSWORD: &str = "pubPassword1";
const SUB_USER: &str = "rmqsub55";
const SUB_PASSWORD: &str = "subPassword1";
/// AUTH_CREATE_USER and AUTH_CREATE_ACL (5.x RequestCode).
const AUTH_CREATE_USER: i32 = 3001;
const AUTH_CREATE_ACL: i32 = 3006;

/// Sends one auth admin request (a JSON body) to `broker` and checks it.
async fn auth_admin(admin: &Admin, broker: &str, code: i32, field: (&str, &str), body: String) {
    let mut cmd = rmq::rmq_core::protocol::RemotingCommand::request(code, 0);
    cmd.ext_fields.insert(field.0, field.1);
    cmd.body = body.into_bytes().into();
    let resp = admin
        .request(Some(broker), cmd, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(resp.code, 0, "auth request {code} {field:?}: {resp:?}");
}

/// A normal user allowed `action` on `topic` and Pub and Sub on every group.
async fn create_user(
    admin: &Admin,
    broker: &str,
    user: &str,
    password: &str,
    topic: &str,
    action: &str,
) {
    let info = format!(r#"{{"username":"{user}","password":"{password}","userType":"Normal"}}"#);
    auth_admin(admin, broker, AUTH_CREATE_USER, ("username", user), info).await;
    let subject = format!("User:{user}");
    let acl = format!(
        r#"{{"subject":"{subject}","policies":[{{"policyType":"Custom","entries":[
            {{"resource":"Topic:{topic}","actions":["{action}"],"decision":"Allow"}},
            {{"resource":"Group:*","actions":["Pub","Sub"],"decision":"Allow"}}]}}]}}"#
    );
    auth_admin(admin, broker, AUTH_CREATE_ACL, ("subject", &subject), acl).await;
}

#[tokio::test]
async fn acl_2_0_authorizes_admin_transaction_and_push_consumer_requests_and_denies_unpermitted_ones_on_5x(
) {
    let _serial = SERIAL.lock().await;
    let cluster = acl_cluster(BrokerVersion::V5).await;
    let namesrv = cluster.namesrv.clone();
    let topic = unique("acl_topic_55");
    let admin = signed_admin(&namesrv, (SUPER_USER, SUPER_PASSWORD)).await;
    let broker = cluster.broker.clone();
    create_user(&admin, &broker, PUB_USER, PUB_PASSWORD, &topic, "Pub").await;
    create_user(&admin, &broker, SUB_USER, SUB_PASSWORD, &topic, "Sub").await;
    admin.shutdown().await.unwrap();
    let accounts = Accounts {
        admin: (SUPER_USER, SUPER_PASSWORD),
        publisher: (PUB_USER, PUB_PASSWORD),
        subscriber: (SUB_USER, SUB_PASSWORD),
        no_publish: (SUB_USER, SUB_PASSWORD),
        no_subscribe: (PUB_USER, PUB_PASSWORD),
    };
    every_request_kind_is_signed_and_unpermitted_ones_are_denied(&namesrv, &topic, &accounts).await;
}

// ----- the lite pull consumer, both lines ------------------------------------------

/// Polls `c` until a message with `body` came or `limit` passed; returns
/// every body polled.
async fn poll_for(c: &LitePullConsumer, body: &str, limit: Duration) -> Vec<String> {
    let start = std::time::Instant::now();
    let mut got = Vec::new();
    while !got.iter().any(|b| b == body) && start.elapsed() < limit {
        got.extend(bodies(&c.poll(Duration::from_millis(500)).await.unwrap()));
    }
    got
}

/// A started lite pull consumer of a fresh group on `topic` from its first
/// message, signing with `creds` (set on its builder) when given.
async fn lite_pull_consumer(
    namesrv: &str,
    topic: &str,
    creds: Option<(&str, &str)>,
) -> LitePullConsumer {
    let mut builder = LitePullConsumer::builder()
        .name_server(namesrv)
        .group(unique("cg_acl_lite"))
        .consume_from(ConsumeFrom::First)
        .config(|c| c.pull_suspend = Duration::from_secs(2));
    if let Some((ak, sk)) = creds {
        builder = builder.credentials(ak, sk);
    }
    let c = builder.build().unwrap();
    c.subscribe(topic, Selector::all()).unwrap();
    c.start().await.unwrap();
    c
}

/// A message published with `publisher` to `topic` is polled by a lite pull
/// consumer signing with `subscriber`; one without credentials polls
/// nothing in 8 s (the broker refuses its heartbeat and pulls).
async fn lite_pull_reads_signed_and_is_denied_unsigned(
    namesrv: &str,
    topic: &str,
    publisher: (&str, &str),
    subscriber: (&str, &str),
) {
    let p = producer(namesrv, Some(publisher), SerializeType::RocketMq).await;
    let body = unique("lite pull signed");
    let r = p.send(Message::new(topic, body.clone())).await.unwrap();
    assert_eq!(r.status, SendStatus::Ok);
    p.shutdown().await.unwrap();

    let signed = lite_pull_consumer(namesrv, topic, Some(subscriber)).await;
    let got = poll_for(&signed, &body, Duration::from_secs(30)).await;
    signed.shutdown().await.unwrap();
    assert!(got.contains(&body), "the signed consumer polled {got:?}");

    let unsigned = lite_pull_consumer(namesrv, topic, None).await;
    let got = poll_for(&unsigned, &body, Duration::from_secs(8)).await;
    unsigned.shutdown().await.unwrap();
    assert!(got.is_empty(), "the unsigned consumer polled {got:?}");
}

#[tokio::test]
async fn a_lite_pull_consumer_with_credentials_reads_and_one_without_is_denied_on_4x() {
    let _serial = SERIAL.lock().await;
    let namesrv = acl_cluster(BrokerVersion::V4).await.namesrv.clone();
    let admin = signed_admin(&namesrv, (ADMIN_AK, ADMIN_SK)).await;
    create_topic(&admin, TOPIC_4X, 2).await;
    admin.shutdown().await.unwrap();
    // The subscriber account may only subscribe to the topic.
    lite_pull_reads_signed_and_is_denied_unsigned(
        &namesrv,
        TOPIC_4X,
        (PUB_AK, PUB_SK),
        (SUB_AK, SUB_SK),
    )
    .await;
}

#[tokio::test]
async fn a_lite_pull_consumer_with_credentials_reads_and_one_without_is_denied_on_5x() {
    let _serial = SERIAL.lock().await;
    let namesrv = acl_cluster(BrokerVersion::V5).await.namesrv.clone();
    let topic = unique("acl_lite_55");
    let admin = signed_admin(&namesrv, (SUPER_USER, SUPER_PASSWORD)).await;
    create_topic(&admin, &topic, 2).await;
    admin.shutdown().await.unwrap();
    let super_user = (SUPER_USER, SUPER_PASSWORD);
    lite_pull_reads_signed_and_is_denied_unsigned(&namesrv, &topic, super_user, super_user).await;
}
