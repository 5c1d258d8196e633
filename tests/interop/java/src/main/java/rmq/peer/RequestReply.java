package rmq.peer;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.RequestTimeoutException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.utils.MessageUtil;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * {@code request} and {@code reply}: request-reply with the Java client.
 *
 * <p>{@code request} sends N requests one after another with {@code
 * DefaultMQProducer.request(msg, timeout)} and prints each reply. {@code reply} answers requests
 * on a topic: a push consumer builds every reply with {@code MessageUtil.createReplyMessage(msg,
 * body)} and sends it with its own producer (the client sends a message of {@code
 * MSG_TYPE=reply} with SEND_REPLY_MESSAGE_V2), printing one line per answered request.
 */
final class RequestReply {
    private RequestReply() {}

    /** Body, size, base64 and the sorted properties of {@code m}, under {@code prefix}+name. */
    private static void putMessage(Map<String, Object> line, String prefix, Message m) {
        byte[] body = m.getBody() == null ? new byte[0] : m.getBody();
        Map<String, String> props = m.getProperties() == null ? Map.of() : m.getProperties();
        line.put(prefix + "topic", m.getTopic());
        String text = Consume.utf8OrNull(body);
        if (text != null) {
            line.put(prefix + "body", text);
        }
        line.put(prefix + "body_base64", Base64.getEncoder().encodeToString(body));
        line.put(prefix + "bodySize", body.length);
        line.put(prefix + "properties", new TreeMap<>(props));
    }

    private static Map<String, String> userProps(Flags f) {
        Map<String, String> props = new LinkedHashMap<>();
        for (String p : f.all("prop")) {
            int eq = p.indexOf('=');
            if (eq <= 0) {
                JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--prop wants k=v, got \"" + p + "\"");
            }
            props.put(p.substring(0, eq), p.substring(eq + 1));
        }
        return props;
    }

    /** {@code request}: N synchronous requests, one reply line each, then a summary. */
    static int runRequest(String[] args) {
        Flags f = new Flags("request");
        JavaPeer.Common.register(f);
        f.value("count", "1", "number of requests, sent one after another");
        f.value("body", "",
                "request body; '{i}' is replaced by the request index (default \"request-{i}\")");
        f.value("tag", "", "message tag");
        f.repeated("prop", "user property k=v (repeatable)");
        f.value("timeout-ms", "3000", "request timeout (send and reply) in milliseconds");
        Produce.registerProducerFlags(f);
        f.parse(args);
        JavaPeer.Common c = JavaPeer.Common.from(f);
        int count = f.integer("count");
        long timeoutMs = f.longValue("timeout-ms");
        if (timeoutMs <= 0) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--timeout-ms must be > 0");
        }
        String tag = f.str("tag");
        Map<String, String> props = userProps(f);
        String bodyTmpl = f.str("body").isEmpty() ? "request-{i}" : f.str("body");

        DefaultMQProducer p = Produce.newProducer(c, f);
        int replies = 0;
        long start = System.nanoTime();
        for (int i = 0; i < count; i++) {
            Message msg = new Message(c.topic,
                    bodyTmpl.replace("{i}", Integer.toString(i)).getBytes(StandardCharsets.UTF_8));
            if (!tag.isEmpty()) {
                msg.setTags(tag);
            }
            props.forEach(msg::putUserProperty);
            long t0 = System.nanoTime();
            Map<String, Object> line = Json.obj("type", "reply", "index", i);
            try {
                Message reply = p.request(msg, timeoutMs);
                // request() stored the correlation id it generated in the request's properties.
                line.put("requestCorrelationId", msg.getProperty(MessageConst.PROPERTY_CORRELATION_ID));
                line.put("elapsed_ms", (System.nanoTime() - t0) / 1e6);
                putMessage(line, "", reply);
                if (reply instanceof MessageExt ext && ext.getMsgId() != null) {
                    line.put("msgId", ext.getMsgId());
                }
                JavaPeer.emit(line);
                replies++;
            } catch (Exception e) {
                boolean timeout = e instanceof RequestTimeoutException;
                JavaPeer.emit(Json.obj("type", "error", "stage", "request",
                        "error", timeout ? "timeout" : JavaPeer.describe(e),
                        "detail", JavaPeer.describe(e),
                        "index", i,
                        "requestCorrelationId", msg.getProperty(MessageConst.PROPERTY_CORRELATION_ID),
                        "elapsed_ms", (System.nanoTime() - t0) / 1e6));
                break;
            }
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        p.shutdown();
        JavaPeer.emit(Json.obj("type", "summary", "requests", count, "replies", replies,
                "elapsed_sec", elapsed));
        return replies == count ? JavaPeer.EXIT_OK : JavaPeer.EXIT_FAILURE;
    }

    /** {@code reply}: answers requests on --topic until --expect were answered or the timeout. */
    static int runReply(String[] args) throws InterruptedException {
        Flags f = new Flags("reply");
        JavaPeer.Common.register(f);
        f.value("reply-body", "reply-{body}",
                "reply body; '{body}' is replaced by the request body (UTF-8), '{i}' by the reply index");
        f.value("expect", "1", "exit 0 once this many distinct requests (by msgId) were answered");
        f.value("timeout-sec", "30", "give up after this many seconds");
        f.bool("from-first", "CONSUME_FROM_FIRST_OFFSET (default CONSUME_FROM_LAST_OFFSET)");
        f.value("instance", "", "client instance name (distinct client ids in one process namespace)");
        f.value("producer-group", "", "group of the reply producer (default <group>_reply)");
        Produce.registerProducerFlags(f);
        f.parse(args);
        JavaPeer.Common c = JavaPeer.Common.from(f);
        int expect = f.integer("expect");
        double timeoutSec = f.number("timeout-sec");
        String replyTmpl = f.str("reply-body");

        JavaPeer.Common pc = new JavaPeer.Common();
        pc.namesrv = c.namesrv;
        pc.topic = c.topic;
        pc.group = f.str("producer-group").isEmpty() ? c.group + "_reply" : f.str("producer-group");
        DefaultMQProducer producer = Produce.newProducer(pc, f);

        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(c.group);
        consumer.setNamesrvAddr(c.namesrv);
        consumer.setConsumeFromWhere(f.bool("from-first")
                ? ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
                : ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET);
        if (!f.str("instance").isEmpty()) {
            consumer.setInstanceName(f.str("instance"));
        }
        try {
            consumer.subscribe(c.topic, "*");
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "subscribe", JavaPeer.describe(e));
        }

        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        Object lock = new Object();
        Set<String> answered = new HashSet<>();
        int[] index = {0};
        boolean[] closed = {false};
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String id = m.getMsgId();
                String correlation = m.getProperty(MessageConst.PROPERTY_CORRELATION_ID);
                String replyTo = MessageUtil.getReplyToClient(m);
                if (correlation == null || replyTo == null) {
                    // Not a request (e.g. a message that created the topic): nothing to answer.
                    Map<String, Object> skip = Json.obj("type", "skip", "msgId", id);
                    putMessage(skip, "request_", m);
                    JavaPeer.emit(skip);
                    continue;
                }
                synchronized (lock) {
                    if (closed[0]) {
                        return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                    }
                }
                byte[] body = m.getBody() == null ? new byte[0] : m.getBody();
                String text = Consume.utf8OrNull(body);
                int i;
                synchronized (lock) {
                    i = index[0]++;
                }
                String replyText = replyTmpl
                        .replace("{body}", text == null ? "" : text)
                        .replace("{i}", Integer.toString(i));
                Map<String, Object> line = Json.obj("type", "reply", "index", i,
                        "correlationId", correlation, "replyToClient", replyTo, "requestMsgId", id);
                putMessage(line, "request_", m);
                boolean ok = false;
                try {
                    Message reply = MessageUtil.createReplyMessage(m,
                            replyText.getBytes(StandardCharsets.UTF_8));
                    putMessage(line, "reply_", reply);
                    SendResult res = producer.send(reply);
                    Produce.putResult(line, res);
                    ok = res.getSendStatus() == SendStatus.SEND_OK;
                } catch (Exception e) {
                    line.put("status", "ERROR");
                    line.put("error", JavaPeer.describe(e));
                }
                int distinct;
                synchronized (lock) {
                    if (ok) {
                        line.put("duplicate", !answered.add(id));
                    }
                    distinct = answered.size();
                    JavaPeer.emit(line);
                }
                if (!ok) {
                    return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                }
                if (distinct >= expect) {
                    events.offer("done");
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        Consume.onSignals(events);

        long start = System.nanoTime();
        try {
            consumer.start();
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "start", JavaPeer.describe(e));
        }
        JavaPeer.emit(Json.obj("type", "ready", "topic", c.topic, "group", c.group));
        if (expect <= 0) {
            events.offer("done");
        }
        String ev = events.poll((long) (timeoutSec * 1e9), TimeUnit.NANOSECONDS);
        String reason = ev == null ? "timeout" : ev.equals("done") ? null : ev;
        double elapsed = (System.nanoTime() - start) / 1e9;
        long distinct;
        synchronized (lock) {
            closed[0] = true;
            distinct = answered.size();
        }
        Consume.shutdownBounded(consumer);
        producer.shutdown();
        if (reason != null) {
            JavaPeer.emit(Json.obj("type", "error", "stage", "reply", "error", reason,
                    "expected", expect, "answered", distinct, "elapsed_sec", elapsed));
            return JavaPeer.EXIT_FAILURE;
        }
        JavaPeer.emit(Json.obj("type", "summary", "expected", expect, "answered", distinct,
                "elapsed_sec", elapsed));
        return JavaPeer.EXIT_OK;
    }
}
