package rmq.peer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;

/**
 * {@code bench-send}: C threads share one producer and send synchronously (single messages,
 * or batches of B with {@code --batch-size}) until N messages were claimed or the duration
 * elapsed.
 */
final class BenchSend {
    private BenchSend() {}

    static int run(String[] args) throws InterruptedException {
        Flags f = new Flags("bench-send");
        JavaPeer.Common.register(f);
        f.value("body-size", "1024", "body size in bytes");
        f.value("concurrency", "1", "sending threads");
        f.value("count", "0", "total messages to send (0 = use --duration-sec)");
        f.value("duration-sec", "10", "run for this many seconds when --count is 0");
        f.value("warmup", "1", "messages sent (untimed) before the run, to fetch the route");
        f.value("batch-size", "1", "messages per send; > 1 sends a batch (producer.send(List))");
        f.value("tag", "", "message tag");
        Produce.registerProducerFlags(f);
        f.parse(args);
        JavaPeer.Common c = JavaPeer.Common.from(f);
        int bodySize = f.integer("body-size");
        int concurrency = f.integer("concurrency");
        long count = f.longValue("count");
        double durationSec = f.number("duration-sec");
        int warmup = f.integer("warmup");
        int batch = f.integer("batch-size");
        String tag = f.str("tag");
        if (concurrency < 1) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--concurrency must be >= 1");
        }
        if (batch < 1) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--batch-size must be >= 1");
        }
        if (count <= 0 && durationSec <= 0) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "need --count > 0 or --duration-sec > 0");
        }
        if (bodySize < 0) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--body-size must be >= 0");
        }

        DefaultMQProducer p = Produce.newProducer(c, f);
        byte[] body = Stats.letters(bodySize, 0);
        for (int i = 0; i < warmup; i++) {
            try {
                p.send(newMessage(c.topic, tag, body));
            } catch (Exception e) {
                JavaPeer.fail(JavaPeer.EXIT_FAILURE, "warmup", JavaPeer.describe(e));
            }
        }

        AtomicLong sent = new AtomicLong();
        AtomicLong errs = new AtomicLong();
        AtomicLong claimed = new AtomicLong();
        AtomicReference<String> firstErr = new AtomicReference<>();
        Stats.LongList lats = new Stats.LongList();

        double cpu0 = Stats.cpuSec();
        long start = System.nanoTime();
        long deadline = start + (long) (durationSec * 1e9);
        Thread progress = new Thread(() -> {
            long last = 0;
            try {
                while (true) {
                    Thread.sleep(1000);
                    long s = sent.get();
                    System.err.printf("[bench-send] %.0fs sent=%d errors=%d last_sec=%d msg/s%n",
                            (System.nanoTime() - start) / 1e9, s, errs.get(), s - last);
                    last = s;
                }
            } catch (InterruptedException e) {
                // done
            }
        }, "bench-progress");
        progress.setDaemon(true);
        progress.start();

        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < concurrency; w++) {
            Thread t = new Thread(() -> {
                Stats.LongList local = new Stats.LongList();
                while (true) {
                    int n = batch;
                    if (count > 0) {
                        long before = claimed.getAndAdd(batch);
                        if (before >= count) {
                            break;
                        }
                        n = (int) Math.min(batch, count - before);
                    } else if (System.nanoTime() - deadline > 0) {
                        break;
                    }
                    long t0 = System.nanoTime();
                    try {
                        SendResult res;
                        if (n == 1) {
                            res = p.send(newMessage(c.topic, tag, body));
                        } else {
                            List<Message> msgs = new ArrayList<>(n);
                            for (int i = 0; i < n; i++) {
                                msgs.add(newMessage(c.topic, tag, body));
                            }
                            res = p.send(msgs);
                        }
                        if (res.getSendStatus() == SendStatus.SEND_OK) {
                            sent.addAndGet(n);
                            local.add(System.nanoTime() - t0);
                        } else {
                            errs.addAndGet(n);
                            firstErr.compareAndSet(null, "send status " + Produce.statusName(res.getSendStatus()));
                        }
                    } catch (Exception e) {
                        errs.addAndGet(n);
                        firstErr.compareAndSet(null, JavaPeer.describe(e));
                    }
                }
                synchronized (lats) {
                    lats.addAll(local);
                }
            }, "bench-send-" + w);
            workers.add(t);
            t.start();
        }
        for (Thread t : workers) {
            t.join();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        double cpu1 = Stats.cpuSec();
        progress.interrupt();

        long[] sorted;
        synchronized (lats) {
            sorted = Stats.sorted(lats.toArray());
        }
        Map<String, Object> out = Json.obj(
                "type", "summary",
                "client", JavaPeer.CLIENT,
                "sent", sent.get(),
                "errors", errs.get(),
                "concurrency", concurrency,
                "batch_size", batch,
                "body_size", bodySize,
                "elapsed_sec", elapsed,
                "msgs_per_sec", sent.get() / elapsed,
                // The JVM reports process CPU time (user + system) only: all of it is put
                // in cpu_user_sec, cpu_sys_sec is 0. *_total_sec include start-up and warm-up.
                "cpu_user_sec", Stats.micros(cpu1 - cpu0),
                "cpu_sys_sec", 0.0,
                "cpu_user_total_sec", Stats.micros(cpu1),
                "cpu_sys_total_sec", 0.0,
                "max_rss_kib", Stats.maxRssKib(),
                "lat_p50_ms", Stats.percentileMs(sorted, 0.50),
                "lat_p99_ms", Stats.percentileMs(sorted, 0.99),
                "lat_max_ms", Stats.percentileMs(sorted, 1.0));
        if (firstErr.get() != null) {
            out.put("first_error", firstErr.get());
        }
        p.shutdown();
        JavaPeer.emit(out);
        return sent.get() == 0 ? JavaPeer.EXIT_FAILURE : JavaPeer.EXIT_OK;
    }

    static Message newMessage(String topic, String tag, byte[] body) {
        Message m = new Message(topic, body);
        if (!tag.isEmpty()) {
            m.setTags(tag);
        }
        return m;
    }
}
