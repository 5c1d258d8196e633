package rmq.peer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;

/** {@code produce}: sends N messages synchronously, one line per message, then a summary. */
final class Produce {
    private Produce() {}

    /** Flags shared by produce and bench-send. */
    static void registerProducerFlags(Flags f) {
        f.value("retry", "2", "send retries");
        f.value("send-timeout-ms", "3000", "send timeout in milliseconds");
        f.value("compress-over", "0",
                "compress bodies larger than N bytes (0 = library default 4096)");
        f.bool("trace", "message trace on (new DefaultMQProducer(group, true, traceTopic))");
        f.value("trace-topic", "", "trace topic (default RMQ_SYS_TRACE_TOPIC)");
    }

    static DefaultMQProducer newProducer(JavaPeer.Common c, Flags f) {
        int retry = f.integer("retry");
        int timeoutMs = f.integer("send-timeout-ms");
        int compressOver = f.integer("compress-over");
        DefaultMQProducer p = f.bool("trace")
                ? new DefaultMQProducer(c.group, true,
                        f.str("trace-topic").isEmpty() ? null : f.str("trace-topic"))
                : new DefaultMQProducer(c.group);
        p.setNamesrvAddr(c.namesrv);
        p.setRetryTimesWhenSendFailed(retry);
        p.setSendMsgTimeout(timeoutMs);
        if (compressOver > 0) {
            p.setCompressMsgBodyOverHowmuch(compressOver);
        }
        try {
            p.start();
        } catch (Exception e) {
            JavaPeer.fail(JavaPeer.EXIT_FAILURE, "start", JavaPeer.describe(e));
        }
        return p;
    }

    static String statusName(SendStatus s) {
        return s == null ? "UNKNOWN_ERROR" : s.name();
    }

    /** The send-result fields the Go peer prints. */
    static void putResult(Map<String, Object> line, SendResult res) {
        line.put("status", statusName(res.getSendStatus()));
        line.put("msgId", res.getMsgId());
        line.put("offsetMsgId", res.getOffsetMsgId());
        line.put("queueOffset", res.getQueueOffset());
        if (res.getMessageQueue() != null) {
            line.put("queueId", res.getMessageQueue().getQueueId());
            line.put("brokerName", res.getMessageQueue().getBrokerName());
            line.put("topic", res.getMessageQueue().getTopic());
        }
        if (res.getRegionId() != null && !res.getRegionId().isEmpty()) {
            line.put("regionId", res.getRegionId());
        }
    }

    static int run(String[] args) {
        Flags f = new Flags("produce");
        JavaPeer.Common.register(f);
        f.value("count", "1", "number of messages to send");
        f.value("tag", "", "message tag");
        f.value("keys", "", "comma-separated message keys");
        f.repeated("prop", "user property k=v (repeatable)");
        f.value("body", "",
                "message body; '{i}' is replaced by the message index (default \"hello-{i}\")");
        f.value("body-size", "0", "generate a body of N bytes (overrides --body)");
        f.value("delay-level", "0", "delay level (1..18), 0 = none");
        registerProducerFlags(f);
        f.parse(args);
        JavaPeer.Common c = JavaPeer.Common.from(f);
        int count = f.integer("count");
        String tag = f.str("tag");
        int bodySize = f.integer("body-size");
        int delayLevel = f.integer("delay-level");
        Map<String, String> props = new LinkedHashMap<>();
        for (String p : f.all("prop")) {
            int eq = p.indexOf('=');
            if (eq <= 0) {
                JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "--prop wants k=v, got \"" + p + "\"");
            }
            props.put(p.substring(0, eq), p.substring(eq + 1));
        }
        List<String> keys = new ArrayList<>();
        for (String k : f.str("keys").split(",")) {
            if (!k.isBlank()) {
                keys.add(k.trim());
            }
        }
        String bodyTmpl = f.str("body").isEmpty() ? "hello-{i}" : f.str("body");

        DefaultMQProducer p = newProducer(c, f);
        int ok = 0;
        int failed = 0;
        long start = System.nanoTime();
        for (int i = 0; i < count; i++) {
            byte[] body = bodySize > 0
                    ? Stats.letters(bodySize, i)
                    : bodyTmpl.replace("{i}", Integer.toString(i)).getBytes(StandardCharsets.UTF_8);
            Message msg = new Message(c.topic, body);
            if (!tag.isEmpty()) {
                msg.setTags(tag);
            }
            if (!keys.isEmpty()) {
                msg.setKeys(keys);
            }
            props.forEach(msg::putUserProperty);
            if (delayLevel > 0) {
                msg.setDelayTimeLevel(delayLevel);
            }
            Map<String, Object> line = Json.obj("type", "send", "index", i);
            try {
                SendResult res = p.send(msg);
                putResult(line, res);
                if (res.getSendStatus() == SendStatus.SEND_OK) {
                    ok++;
                } else {
                    failed++;
                }
            } catch (Exception e) {
                failed++;
                line.put("status", "ERROR");
                line.put("error", JavaPeer.describe(e));
            }
            JavaPeer.emit(line);
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        p.shutdown();
        JavaPeer.emit(Json.obj("type", "summary", "sent", ok, "errors", failed, "elapsed_sec", elapsed));
        return failed > 0 ? JavaPeer.EXIT_FAILURE : JavaPeer.EXIT_OK;
    }
}
