package rmq.peer;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.remoting.protocol.heartbeat.MessageModel;

/**
 * {@code bench-consume}: a push consumer (clustering, CONSUME_FROM_FIRST_OFFSET, a fresh group
 * from the caller) whose handler only counts; timed from the first delivered message to the
 * N-th.
 */
final class BenchConsume {
    private BenchConsume() {}

    static int run(String[] args) throws InterruptedException {
        Flags f = new Flags("bench-consume");
        JavaPeer.Common.register(f);
        f.value("expect", "0", "messages to consume (required)");
        f.value("timeout-sec", "120", "give up after this many seconds");
        f.value("threads", "20", "consume threads (consumeThreadMin = consumeThreadMax)");
        f.value("batch-max", "1", "consumeMessageBatchMaxSize: messages per listener call");
        f.parse(args);
        JavaPeer.Common c = JavaPeer.Common.from(f);
        long expect = f.longValue("expect");
        double timeoutSec = f.number("timeout-sec");
        int threads = f.integer("threads");
        int batchMax = f.integer("batch-max");
        if (expect <= 0) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--expect must be > 0");
        }
        if (threads < 1 || batchMax < 1) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--threads and --batch-max must be >= 1");
        }

        AtomicLong count = new AtomicLong();
        AtomicLong firstNs = new AtomicLong();
        double[] cpu = new double[2];
        long[] end = new long[2]; // end time, count at the end
        CountDownLatch done = new CountDownLatch(1);

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(c.group);
        consumer.setNamesrvAddr(c.namesrv);
        consumer.setMessageModel(MessageModel.CLUSTERING);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.setConsumeThreadMin(threads);
        consumer.setConsumeThreadMax(threads);
        consumer.setConsumeMessageBatchMaxSize(batchMax);
        try {
            consumer.subscribe(c.topic, "*");
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "subscribe", JavaPeer.describe(e));
        }
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            if (firstNs.get() == 0) {
                long now = System.nanoTime();
                double c0 = Stats.cpuSec();
                synchronized (cpu) {
                    if (firstNs.compareAndSet(0, now)) {
                        cpu[0] = c0;
                    }
                }
            }
            long n = count.addAndGet(msgs.size());
            if (n >= expect && n - msgs.size() < expect) {
                long now = System.nanoTime();
                double c1 = Stats.cpuSec();
                synchronized (cpu) {
                    cpu[1] = c1;
                    end[0] = now;
                    end[1] = n;
                }
                done.countDown();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });

        long start = System.nanoTime();
        try {
            consumer.start();
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "start", JavaPeer.describe(e));
        }
        boolean ok = done.await((long) (timeoutSec * 1e9), TimeUnit.NANOSECONDS);
        if (!ok) {
            double elapsed = (System.nanoTime() - start) / 1e9;
            Consume.shutdownBounded(consumer);
            JavaPeer.emit(Json.obj("type", "error", "stage", "consume", "error", "timeout",
                    "expected", expect, "received", count.get(), "elapsed_sec", elapsed));
            return JavaPeer.EXIT_FAILURE;
        }
        double elapsed;
        double cpuSec;
        long consumed;
        synchronized (cpu) {
            elapsed = (end[0] - firstNs.get()) / 1e9;
            cpuSec = cpu[1] - cpu[0];
            consumed = end[1];
        }
        double startupSec = (firstNs.get() - start) / 1e9;
        long rss = Stats.maxRssKib();
        double cpuTotal = Stats.cpuSec();
        Consume.shutdownBounded(consumer);
        JavaPeer.emit(Json.obj(
                "type", "summary",
                "client", JavaPeer.CLIENT,
                "sent", consumed,
                "errors", 0,
                "expected", expect,
                "threads", threads,
                "batch_max", batchMax,
                "elapsed_sec", elapsed,
                "msgs_per_sec", elapsed > 0 ? consumed / elapsed : 0.0,
                "first_message_after_sec", startupSec,
                "cpu_user_sec", Stats.micros(cpuSec),
                "cpu_sys_sec", 0.0,
                "cpu_user_total_sec", Stats.micros(cpuTotal),
                "cpu_sys_total_sec", 0.0,
                "max_rss_kib", rss));
        return JavaPeer.EXIT_OK;
    }
}
