package rmq.peer;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;

/** {@code consume}: push consumer, one line per delivered message. */
final class Consume {
    private Consume() {}

    static String hostPort(SocketAddress a) {
        if (a instanceof InetSocketAddress isa) {
            String host = isa.getAddress() != null ? isa.getAddress().getHostAddress() : isa.getHostString();
            return host + ":" + isa.getPort();
        }
        return a == null ? "" : a.toString();
    }

    static String utf8OrNull(byte[] body) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /** The message id the Java client reports (UNIQ_KEY, else the offset message id). */
    static String msgId(MessageExt m) {
        return m.getMsgId();
    }

    static String offsetMsgId(MessageExt m) {
        if (m instanceof MessageClientExt ce) {
            return ce.getOffsetMsgId();
        }
        return m.getMsgId();
    }

    /** A {@code "type":"message"} line with the Go peer's field names. */
    static Map<String, Object> messageJson(MessageExt m) {
        byte[] body = m.getBody() == null ? new byte[0] : m.getBody();
        Map<String, String> props = m.getProperties() == null ? Map.of() : m.getProperties();
        Map<String, Object> line = Json.obj(
                "type", "message",
                "topic", m.getTopic(),
                "tags", m.getTags() == null ? "" : m.getTags(),
                "keys", m.getKeys() == null ? "" : m.getKeys(),
                "properties", new TreeMap<>(props));
        String text = utf8OrNull(body);
        if (text != null) {
            line.put("body", text);
        }
        line.put("body_base64", Base64.getEncoder().encodeToString(body));
        line.put("bodySize", body.length);
        line.put("msgId", msgId(m));
        line.put("offsetMsgId", offsetMsgId(m));
        line.put("queueId", m.getQueueId());
        line.put("brokerName", m.getBrokerName());
        line.put("queueOffset", m.getQueueOffset());
        line.put("commitLogOffset", m.getCommitLogOffset());
        line.put("bornTimestamp", m.getBornTimestamp());
        line.put("bornHost", hostPort(m.getBornHost()));
        line.put("storeTimestamp", m.getStoreTimestamp());
        line.put("storeHost", hostPort(m.getStoreHost()));
        line.put("storeSize", m.getStoreSize());
        line.put("bodyCRC", m.getBodyCRC());
        line.put("reconsumeTimes", m.getReconsumeTimes());
        line.put("preparedTransactionOffset", m.getPreparedTransactionOffset());
        line.put("sysFlag", m.getSysFlag());
        // The Java decoder clears COMPRESSED_FLAG (bit 0) once it inflated the body but keeps
        // the compression-type bits (8..10) that 5.x producers set next to it.
        line.put("compressed", (m.getSysFlag() & 0x1) != 0 || (m.getSysFlag() & 0x700) != 0);
        line.put("flag", m.getFlag());
        return line;
    }

    /** SIGINT/SIGTERM put "signal SIGxxx" into {@code events}. */
    static void onSignals(BlockingQueue<String> events) {
        for (String name : new String[] {"INT", "TERM"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> events.offer("signal SIG" + s.getName()));
            } catch (IllegalArgumentException e) {
                // signal not available here
            }
        }
    }

    /** Shuts a consumer down (persisting offsets), bounded to 10 s. */
    static void shutdownBounded(DefaultMQPushConsumer consumer) {
        Thread t = new Thread(consumer::shutdown, "peer-shutdown");
        t.setDaemon(true);
        t.start();
        try {
            t.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (t.isAlive()) {
            System.err.println("consumer shutdown timed out");
        }
    }

    static int run(String[] args) throws InterruptedException {
        Flags f = new Flags("consume");
        JavaPeer.Common.register(f);
        f.value("tag-expr", "*", "tag subscription expression, e.g. \"TagA||TagB\"");
        f.value("sql", "",
                "SQL92 subscription expression (overrides --tag-expr; broker needs enablePropertyFilter=true)");
        f.value("expect", "1", "exit 0 once this many distinct messages (by msgId) arrived");
        f.value("timeout-sec", "30", "give up after this many seconds");
        f.bool("from-first", "CONSUME_FROM_FIRST_OFFSET (default CONSUME_FROM_LAST_OFFSET)");
        f.bool("broadcast", "broadcasting instead of clustering");
        f.bool("report-allocation",
                "print an allocation line whenever this consumer's queues of --topic change");
        f.value("instance", "", "client instance name (distinct client ids in one process namespace)");
        f.value("linger-sec", "0",
                "after --expect was reached, keep consuming (and printing) this many seconds");
        f.parse(args);
        JavaPeer.Common c = JavaPeer.Common.from(f);
        int expect = f.integer("expect");
        double timeoutSec = f.number("timeout-sec");
        double lingerSec = f.number("linger-sec");
        String sql = f.str("sql");

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(c.group);
        consumer.setNamesrvAddr(c.namesrv);
        consumer.setMessageModel(f.bool("broadcast") ? MessageModel.BROADCASTING : MessageModel.CLUSTERING);
        consumer.setConsumeFromWhere(f.bool("from-first")
                ? ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
                : ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET);
        if (!f.str("instance").isEmpty()) {
            consumer.setInstanceName(f.str("instance"));
        } else if (f.bool("broadcast")) {
            // The client replaces the instance name "DEFAULT" by the pid for clustering
            // consumers only; without this, broadcasting peers on one host would share the
            // client id (ip@DEFAULT) and the local offset file.
            consumer.setInstanceName(Long.toString(ProcessHandle.current().pid()));
        }
        if (f.bool("report-allocation")) {
            consumer.setAllocateMessageQueueStrategy(
                    new ReportingAllocateStrategy(c.topic, new AllocateMessageQueueAveragely()));
        }
        try {
            if (!sql.isEmpty()) {
                consumer.subscribe(c.topic, MessageSelector.bySql(sql));
            } else {
                consumer.subscribe(c.topic, f.str("tag-expr"));
            }
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "subscribe", JavaPeer.describe(e));
        }

        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        Object lock = new Object();
        Set<String> seen = new HashSet<>();
        long[] received = {0};
        boolean[] closed = {false};
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                Map<String, Object> line = messageJson(m);
                int distinct;
                // Print under the lock: once the expected count is seen, every counted
                // message has been printed.
                synchronized (lock) {
                    if (closed[0]) {
                        // The summary is being printed: leave the message to the broker.
                        return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                    }
                    received[0]++;
                    String id = msgId(m);
                    if (id == null || id.isEmpty()) {
                        id = offsetMsgId(m);
                    }
                    line.put("duplicate", !seen.add(id));
                    distinct = seen.size();
                    JavaPeer.emit(line);
                }
                if (distinct >= expect) {
                    events.offer("done");
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        onSignals(events);

        long start = System.nanoTime();
        try {
            consumer.start();
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "start", JavaPeer.describe(e));
        }
        if (expect <= 0) {
            events.offer("done");
        }

        String reason = null;
        String ev = events.poll((long) (timeoutSec * 1e9), TimeUnit.NANOSECONDS);
        if (ev == null) {
            reason = "timeout";
        } else if (!ev.equals("done")) {
            reason = ev;
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        if (reason == null && lingerSec > 0) {
            long lingerEnd = System.nanoTime() + (long) (lingerSec * 1e9);
            while (true) {
                long left = lingerEnd - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                String e2 = events.poll(left, TimeUnit.NANOSECONDS);
                if (e2 != null && !e2.equals("done")) {
                    break; // a signal ends the linger early; the run itself succeeded
                }
            }
        }
        shutdownBounded(consumer);

        long distinct;
        long total;
        synchronized (lock) {
            closed[0] = true;
            distinct = seen.size();
            total = received[0];
        }
        if (reason != null) {
            JavaPeer.emit(Json.obj("type", "error", "stage", "consume", "error", reason,
                    "expected", expect, "distinct", distinct, "received", total, "elapsed_sec", elapsed));
            return JavaPeer.EXIT_FAILURE;
        }
        JavaPeer.emit(Json.obj("type", "summary", "expected", expect, "distinct", distinct,
                "received", total, "elapsed_sec", elapsed));
        return JavaPeer.EXIT_OK;
    }
}
