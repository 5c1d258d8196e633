package rmq.peer;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;

/**
 * {@code bench-latency}: end-to-end latency in one process. A push consumer (fresh group,
 * CONSUME_FROM_LAST_OFFSET) starts first; then a producer sends synchronously at a fixed rate
 * (a pacing thread hands each send to a small sender pool at its scheduled instant) for
 * warm-up + duration seconds. Each body starts with the send's wall-clock time in
 * nanoseconds since the epoch, in decimal, and a space. Only messages of this run (user
 * property {@code rmq_lat_run}) sent after the warm-up (property {@code rmq_lat_measured})
 * are counted.
 */
final class BenchLatency {
    private BenchLatency() {}

    private static final String RUN_PROP = "rmq_lat_run";
    private static final String MEASURED_PROP = "rmq_lat_measured";

    static int run(String[] args) throws InterruptedException {
        Flags f = new Flags("bench-latency");
        JavaPeer.Common.register(f);
        f.value("rate", "0", "messages per second (required)");
        f.value("duration-sec", "10", "measured sending time, after the warm-up");
        f.value("body-size", "1024", "body size in bytes (at least the timestamp and a space)");
        f.value("warmup-sec", "2", "seconds of sending (same rate) before the measured part");
        f.value("senders", "8", "threads that carry out the paced synchronous sends");
        f.value("wait-sec", "30", "after the last send, wait at most this long for the messages");
        Produce.registerProducerFlags(f);
        f.parse(args);
        JavaPeer.Common c = JavaPeer.Common.from(f);
        double rate = f.number("rate");
        double durationSec = f.number("duration-sec");
        int bodySize = f.integer("body-size");
        double warmupSec = f.number("warmup-sec");
        int senders = f.integer("senders");
        double waitSec = f.number("wait-sec");
        if (rate <= 0 || durationSec <= 0) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "need --rate > 0 and --duration-sec > 0");
        }
        if (senders < 1 || warmupSec < 0) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "need --senders >= 1 and --warmup-sec >= 0");
        }
        String runId = UUID.randomUUID().toString();

        // The producer first, with one probe message: it creates the topic (when the broker
        // auto-creates topics) before the consumer looks up its route.
        DefaultMQProducer producer = Produce.newProducer(c, f);
        try {
            producer.send(new Message(c.topic, "probe".getBytes(StandardCharsets.UTF_8)));
        } catch (Exception e) {
            System.err.println("[bench-latency] probe send failed: " + JavaPeer.describe(e));
        }

        Object lock = new Object();
        Set<String> seen = new HashSet<>();
        Stats.LongList lats = new Stats.LongList();
        long[] expected = {Long.MAX_VALUE};
        CountDownLatch allArrived = new CountDownLatch(1);

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(c.group);
        consumer.setNamesrvAddr(c.namesrv);
        consumer.setMessageModel(MessageModel.CLUSTERING);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET);
        try {
            consumer.subscribe(c.topic, "*");
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "subscribe", JavaPeer.describe(e));
        }
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            long recvNs = Stats.wallNanos();
            for (MessageExt m : msgs) {
                if (!runId.equals(m.getUserProperty(RUN_PROP)) || m.getUserProperty(MEASURED_PROP) == null) {
                    continue;
                }
                long sendNs = parseSendNs(m.getBody());
                if (sendNs < 0) {
                    continue;
                }
                synchronized (lock) {
                    if (seen.add(m.getMsgId())) {
                        lats.add(recvNs - sendNs);
                        if (lats.size() >= expected[0]) {
                            allArrived.countDown();
                        }
                    }
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        try {
            consumer.start();
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "start", JavaPeer.describe(e));
        }
        // Poll (bounded) until the consumer's rebalance owns queues of the topic.
        long ownDeadline = System.nanoTime() + 10_000_000_000L;
        boolean owns = false;
        while (System.nanoTime() - ownDeadline < 0) {
            owns = ownsQueues(consumer, c.topic);
            if (owns) {
                break;
            }
            Thread.sleep(100);
        }
        if (!owns) {
            System.err.println("[bench-latency] the consumer owns no queue of " + c.topic
                    + " after 10 s; sending anyway");
        }
        // Let the first pull requests reach the broker before the warm-up starts.
        Thread.sleep(500);

        AtomicLong sent = new AtomicLong();
        AtomicLong errs = new AtomicLong();
        AtomicReference<String> firstErr = new AtomicReference<>();
        ExecutorService pool = Executors.newFixedThreadPool(senders, r -> {
            Thread t = new Thread(r, "latency-sender");
            t.setDaemon(true);
            return t;
        });
        long periodNs = Math.max(1, (long) (1e9 / rate));
        long t0 = System.nanoTime();
        long measureFrom = t0 + (long) (warmupSec * 1e9);
        long endAt = measureFrom + (long) (durationSec * 1e9);
        double cpu0 = 0;
        boolean cpuTaken = false;
        long lastMeasuredDone;
        for (long i = 0;; i++) {
            long due = t0 + i * periodNs;
            if (due - endAt >= 0) {
                break;
            }
            long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            boolean measured = due - measureFrom >= 0;
            if (measured && !cpuTaken) {
                cpu0 = Stats.cpuSec();
                cpuTaken = true;
            }
            pool.execute(() -> {
                long ns = Stats.wallNanos();
                Message m = new Message(c.topic, body(ns, bodySize));
                m.putUserProperty(RUN_PROP, runId);
                if (measured) {
                    m.putUserProperty(MEASURED_PROP, "1");
                }
                try {
                    SendResult res = producer.send(m);
                    if (res.getSendStatus() != SendStatus.SEND_OK) {
                        throw new IllegalStateException("send status " + res.getSendStatus());
                    }
                    if (measured) {
                        sent.incrementAndGet();
                    }
                } catch (Exception e) {
                    if (measured) {
                        errs.incrementAndGet();
                    }
                    firstErr.compareAndSet(null, JavaPeer.describe(e));
                }
            });
        }
        pool.shutdown();
        pool.awaitTermination(60, TimeUnit.SECONDS);
        lastMeasuredDone = System.nanoTime();
        double elapsed = (lastMeasuredDone - measureFrom) / 1e9;

        long n = sent.get();
        synchronized (lock) {
            expected[0] = n;
            if (lats.size() >= n) {
                allArrived.countDown();
            }
        }
        allArrived.await((long) (waitSec * 1e9), TimeUnit.NANOSECONDS);
        double cpu1 = Stats.cpuSec();
        long[] sorted;
        synchronized (lock) {
            expected[0] = Long.MAX_VALUE;
            sorted = Stats.sorted(lats.toArray());
        }
        long m = sorted.length;
        Consume.shutdownBounded(consumer);
        producer.shutdown();

        if (m < n || n == 0) {
            JavaPeer.emit(Json.obj("type", "error", "stage", "latency",
                    "error", n == 0 ? "nothing was sent" : "only " + m + " of " + n + " messages arrived",
                    "first_error", firstErr.get()));
        }
        var out = Json.obj(
                "type", "summary",
                "client", JavaPeer.CLIENT,
                "sent", n,
                "received", m,
                "errors", errs.get(),
                "rate", rate,
                "duration_sec", durationSec,
                "warmup_sec", warmupSec,
                "body_size", bodySize,
                "elapsed_sec", elapsed,
                "msgs_per_sec", elapsed > 0 ? n / elapsed : 0.0,
                "lat_p50_ms", Stats.percentileMs(sorted, 0.50),
                "lat_p99_ms", Stats.percentileMs(sorted, 0.99),
                "lat_max_ms", Stats.percentileMs(sorted, 1.0),
                "cpu_user_sec", Stats.micros(cpu1 - cpu0),
                "cpu_sys_sec", 0.0,
                "max_rss_kib", Stats.maxRssKib());
        if (firstErr.get() != null) {
            out.put("first_error", firstErr.get());
        }
        JavaPeer.emit(out);
        return m < n || n == 0 ? JavaPeer.EXIT_FAILURE : JavaPeer.EXIT_OK;
    }

    /** Whether the consumer's rebalance has assigned it queues of {@code topic}. */
    @SuppressWarnings("deprecation")
    static boolean ownsQueues(DefaultMQPushConsumer consumer, String topic) {
        return consumer.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable()
                .keySet().stream().anyMatch(mq -> mq.getTopic().equals(topic));
    }

    /** The decimal send time, a space, then letters up to {@code size} bytes. */
    static byte[] body(long sendNs, int size) {
        byte[] prefix = (sendNs + " ").getBytes(StandardCharsets.US_ASCII);
        if (size <= prefix.length) {
            return prefix;
        }
        byte[] b = Stats.letters(size, 0);
        System.arraycopy(prefix, 0, b, 0, prefix.length);
        return b;
    }

    /** The send time at the start of a body, or -1. */
    static long parseSendNs(byte[] body) {
        if (body == null) {
            return -1;
        }
        long v = 0;
        int i = 0;
        for (; i < body.length && i < 20; i++) {
            byte b = body[i];
            if (b == ' ') {
                break;
            }
            if (b < '0' || b > '9') {
                return -1;
            }
            v = v * 10 + (b - '0');
        }
        return i > 0 && i < body.length && body[i] == ' ' ? v : -1;
    }
}
