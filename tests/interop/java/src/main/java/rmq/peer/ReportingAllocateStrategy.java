package rmq.peer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.consumer.AllocateMessageQueueStrategy;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Delegates queue allocation to another strategy (the default
 * {@code AllocateMessageQueueAveragely}) and, whenever the result for the watched topic differs
 * from the last one reported, prints
 * {@code {"type":"allocation","topic":"T","queues":[{"brokerName":"broker-a","queueId":0},...]}}
 * with the queues sorted by broker name, then queue id. Other topics (the consumer's own
 * {@code %RETRY%group} topic) are allocated but not reported.
 */
final class ReportingAllocateStrategy implements AllocateMessageQueueStrategy {
    private static final Comparator<MessageQueue> ORDER = Comparator
            .comparing(MessageQueue::getBrokerName)
            .thenComparingInt(MessageQueue::getQueueId);

    private final String topic;
    private final AllocateMessageQueueStrategy delegate;
    private final Map<String, List<String>> lastReported = new HashMap<>();

    ReportingAllocateStrategy(String topic, AllocateMessageQueueStrategy delegate) {
        this.topic = topic;
        this.delegate = delegate;
    }

    @Override
    public List<MessageQueue> allocate(String consumerGroup, String currentCID,
            List<MessageQueue> mqAll, List<String> cidAll) {
        List<MessageQueue> result = delegate.allocate(consumerGroup, currentCID, mqAll, cidAll);
        String t = topic;
        if (mqAll != null && !mqAll.isEmpty()) {
            t = mqAll.get(0).getTopic();
        }
        if (t.equals(topic)) {
            report(t, result == null ? List.of() : result);
        }
        return result;
    }

    private synchronized void report(String t, List<MessageQueue> result) {
        List<MessageQueue> sorted = new ArrayList<>(result);
        sorted.sort(ORDER);
        List<String> key = new ArrayList<>();
        List<Object> queues = new ArrayList<>();
        for (MessageQueue mq : sorted) {
            key.add(mq.getBrokerName() + "/" + mq.getQueueId());
            queues.add(Json.obj("brokerName", mq.getBrokerName(), "queueId", mq.getQueueId()));
        }
        if (key.equals(lastReported.get(t))) {
            return;
        }
        lastReported.put(t, key);
        JavaPeer.emit(Json.obj("type", "allocation", "topic", t, "queues", queues));
    }

    @Override
    public String getName() {
        return delegate.getName();
    }
}
