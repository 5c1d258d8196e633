package rmq.vectors;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import org.apache.rocketmq.client.consumer.AllocateMessageQueueStrategy;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMachineRoomNearby;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragelyByCircle;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueByConfig;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueByMachineRoom;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueConsistentHash;
import org.apache.rocketmq.common.MQVersion;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Writes queue-allocation vectors for rmq-core by running the Java client's
 * own strategy classes. Usage: {@code AllocationVectors <output file>}.
 *
 * <p>Every case is deterministic (fixed seeds, fixed iteration order), so
 * running it twice writes the same file. The format is described in the
 * header the file starts with (see {@link #HEADER}).
 */
public final class AllocationVectors {

    private static final String GROUP = "GID_allocation";
    /** A client id that is never in a case's list. */
    private static final String ABSENT = "10.9.9.9@absent";

    private static final String[] HEADER = {
        "# Queue-allocation vectors written by tests/java/allocation-vectors (cargo xtask vectors)",
        "# with the strategy classes of rocketmq-client %s. Do not edit by hand.",
        "#",
        "# UTF-8, one record per line, fields separated by TAB; '#' lines are comments.",
        "#   case  <name> <mode> <group> <strategy> <java getName()> <queues> <client ids>",
        "#   alloc <current client id> <outcome> <payload>       (for the case above)",
        "# mode:     rebalance = RebalanceImpl.rebalanceByTopic (clustering): skipped when the",
        "#             queue set or the client list is empty, else queues put in a HashSet,",
        "#             then Collections.sort on the queues and on the client ids;",
        "#           direct = strategy.allocate on the lists exactly as given.",
        "# strategy: avg | circle | hash <virtual nodes> | config <queues> | room <idcs>",
        "#           | nearby <broker separator> <client separator> <strategy>   (space separated)",
        "#           nearby resolves a machine room as the name up to the first separator.",
        "# outcome:  ok <queues, as allocate returned them> | err <IllegalArgumentException message>",
        "#           | skip mqSet|cidAll (rebalance did not call the strategy).",
        "# lists:    items separated by '|', '~' = empty list; a queue is topic/brokerName/queueId.",
        "# escapes:  %XX (hex of the byte) for % TAB LF CR space | / ~ inside names.",
    };

    // ------------------------------------------------------------------
    // Encoding.

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if ("%\t\n\r |/~".indexOf(c) >= 0) {
                b.append('%').append(String.format("%02X", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    static String queues(List<MessageQueue> mqs) {
        if (mqs.isEmpty()) {
            return "~";
        }
        StringBuilder b = new StringBuilder();
        for (MessageQueue mq : mqs) {
            if (b.length() > 0) {
                b.append('|');
            }
            b.append(esc(mq.getTopic())).append('/').append(esc(mq.getBrokerName()))
                .append('/').append(mq.getQueueId());
        }
        return b.toString();
    }

    static String strings(List<String> items) {
        if (items.isEmpty()) {
            return "~";
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) {
                b.append('|');
            }
            b.append(esc(items.get(i)));
        }
        return b.toString();
    }

    // ------------------------------------------------------------------
    // Strategies: the Java object and its encoding.

    record Spec(String label, String code, Supplier<AllocateMessageQueueStrategy> make) {
    }

    static Spec avg() {
        return new Spec("avg", "avg", AllocateMessageQueueAveragely::new);
    }

    static Spec circle() {
        return new Spec("circle", "circle", AllocateMessageQueueAveragelyByCircle::new);
    }

    static Spec hash(int virtualNodes) {
        return new Spec("hash" + virtualNodes, "hash " + virtualNodes,
            () -> new AllocateMessageQueueConsistentHash(virtualNodes));
    }

    static Spec config(String label, List<MessageQueue> mqs) {
        return new Spec("config-" + label, "config " + queues(mqs), () -> {
            AllocateMessageQueueByConfig s = new AllocateMessageQueueByConfig();
            s.setMessageQueueList(new ArrayList<>(mqs));
            return s;
        });
    }

    static Spec room(String label, List<String> idcs) {
        return new Spec("room-" + label, "room " + strings(idcs), () -> {
            AllocateMessageQueueByMachineRoom s = new AllocateMessageQueueByMachineRoom();
            s.setConsumeridcs(new HashSet<>(idcs));
            return s;
        });
    }

    /** The room is the name up to the first separator (all of it without one). */
    static String prefix(String name, char separator) {
        int at = name.indexOf(separator);
        return at < 0 ? name : name.substring(0, at);
    }

    static Spec nearby(char brokerSep, char clientSep, Spec inner) {
        return new Spec("nearby-" + inner.label(),
            "nearby " + esc(String.valueOf(brokerSep)) + " " + esc(String.valueOf(clientSep)) + " "
                + inner.code(),
            () -> new AllocateMachineRoomNearby(inner.make().get(),
                new AllocateMachineRoomNearby.MachineRoomResolver() {
                    @Override
                    public String brokerDeployIn(MessageQueue mq) {
                        return prefix(mq.getBrokerName(), brokerSep);
                    }

                    @Override
                    public String consumerDeployIn(String clientId) {
                        return prefix(clientId, clientSep);
                    }
                }));
    }

    // ------------------------------------------------------------------
    // Inputs.

    record Layout(String label, List<MessageQueue> mqs) {
    }

    record Clients(String label, List<String> cids) {
    }

    private static final Random RANDOM = new Random(20250919L);

    static <T> List<T> shuffled(List<T> items) {
        List<T> out = new ArrayList<>(items);
        Collections.shuffle(out, RANDOM);
        return out;
    }

    /** {@code counts[t][b]} queues of topic t on broker b, shuffled. */
    static Layout layout(String label, String[] topics, String[] brokers, int[][] counts) {
        List<MessageQueue> mqs = new ArrayList<>();
        for (int t = 0; t < topics.length; t++) {
            for (int b = 0; b < brokers.length; b++) {
                for (int q = 0; q < counts[t][b]; q++) {
                    mqs.add(new MessageQueue(topics[t], brokers[b], q));
                }
            }
        }
        return new Layout(label, shuffled(mqs));
    }

    static Layout oneTopic(String[] brokers, int... perBroker) {
        StringBuilder label = new StringBuilder("q");
        for (int n : perBroker) {
            label.append(label.length() > 1 ? "+" : "").append(n);
        }
        return layout(label.toString(), new String[] {"TopicA"}, brokers, new int[][] {perBroker});
    }

    static final String[] BROKERS = {"broker-a", "broker-b", "broker-c"};

    static List<Layout> standardLayouts() {
        List<Layout> out = new ArrayList<>();
        out.add(new Layout("empty", List.of()));
        for (int n : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 16, 20}) {
            out.add(oneTopic(new String[] {"broker-a"}, n));
        }
        String[] two = {"broker-a", "broker-b"};
        out.add(oneTopic(two, 1, 1));
        out.add(oneTopic(two, 3, 5));
        out.add(oneTopic(two, 4, 4));
        out.add(oneTopic(two, 8, 8));
        out.add(oneTopic(BROKERS, 1, 1, 1));
        out.add(oneTopic(BROKERS, 4, 8, 2));
        out.add(oneTopic(BROKERS, 6, 6, 6));
        out.add(layout("2topics-2+2", new String[] {"TopicB", "TopicA"}, two, new int[][] {{2, 2}, {2, 2}}));
        out.add(layout("2topics-3+1", new String[] {"TopicA", "TopicB"}, two, new int[][] {{3, 1}, {1, 3}}));
        List<MessageQueue> ids = new ArrayList<>();
        for (int id : new int[] {0, 2, 10, 1, 11, 3, -1, 100}) {
            ids.add(new MessageQueue("TopicA", "broker-a", id));
        }
        out.add(new Layout("ids-numeric", ids));
        List<MessageQueue> dup = new ArrayList<>();
        for (int id : new int[] {0, 1, 2, 1, 2, 2, 3}) {
            dup.add(new MessageQueue("TopicA", "broker-a", id));
        }
        out.add(new Layout("duplicates", dup));
        String[] odd = {"broker-b", "Broker-a", "broker-\u00e9", "broker-\uD83D\uDE00", "broker-\uFFFF",
            "broker a|b/c", "broker-%~"};
        out.add(layout("odd-names", new String[] {"%RETRY%GID_allocation", "\u4e3b\u9898"}, odd,
            new int[][] {{1, 2, 1, 2, 1, 1, 1}, {1, 0, 1, 1, 0, 1, 0}}));
        return out;
    }

    static Clients clients(int n) {
        List<String> cids = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            cids.add("10.0.0." + i + "@" + (4000 + i * 7));
        }
        return new Clients("c" + n, shuffled(cids));
    }

    static List<Clients> standardClients() {
        List<Clients> out = new ArrayList<>();
        for (int n : new int[] {1, 2, 3, 4, 5, 7, 8, 12}) {
            out.add(clients(n));
        }
        return out;
    }

    static final Clients ODD_CLIENTS = new Clients("odd", List.of(
        "\u5ba2\u6237\u7aef-1", "\uD83D\uDE00-cid", "\uFFFF-cid", "\u00e9-cid", "a|b", "50% done",
        "tab\there", "Zeta", "alpha"));
    static final Clients DUP_CLIENTS = new Clients("dup", List.of("c1", "c2", "c1", "c3", "c2"));
    static final Clients NO_CLIENTS = new Clients("none", List.of());

    // ------------------------------------------------------------------
    // Running a case.

    private final Writer out;
    private int cases;
    private int allocs;

    AllocationVectors(Writer out) {
        this.out = out;
    }

    void line(String... fields) throws IOException {
        out.write(String.join("\t", fields));
        out.write('\n');
    }

    void emit(boolean rebalance, Spec spec, Layout layout, Clients clients, boolean withEmptyCid)
        throws IOException {
        cases++;
        String mode = rebalance ? "rebalance" : "direct";
        String name = String.format("%04d:%s:%s:%s:%s", cases, mode, spec.label(), layout.label(),
            clients.label());
        AllocateMessageQueueStrategy strategy = spec.make().get();
        line("case", esc(name), mode, GROUP, spec.code(), strategy.getName(), queues(layout.mqs()),
            strings(clients.cids()));
        LinkedHashSet<String> currents = new LinkedHashSet<>(clients.cids());
        currents.add(ABSENT);
        if (withEmptyCid) {
            currents.add("");
        }
        for (String current : currents) {
            allocs++;
            String[] outcome = rebalance
                ? rebalance(strategy, current, layout.mqs(), clients.cids())
                : direct(strategy, current, layout.mqs(), clients.cids());
            line("alloc", esc(current), outcome[0], outcome[1]);
        }
    }

    static String[] direct(AllocateMessageQueueStrategy strategy, String current, List<MessageQueue> mqs,
        List<String> cids) {
        try {
            List<MessageQueue> got = strategy.allocate(GROUP, current, new ArrayList<>(mqs), new ArrayList<>(cids));
            return new String[] {"ok", queues(got)};
        } catch (IllegalArgumentException e) {
            return new String[] {"err", esc(e.getMessage())};
        }
    }

    /** What RebalanceImpl.rebalanceByTopic does around the strategy (CLUSTERING). */
    static String[] rebalance(AllocateMessageQueueStrategy strategy, String current, List<MessageQueue> mqs,
        List<String> cids) {
        HashSet<MessageQueue> mqSet = new HashSet<>(mqs);
        if (mqSet.isEmpty()) {
            return new String[] {"skip", "mqSet"};
        }
        List<String> cidAll = new ArrayList<>(cids);
        if (cidAll.isEmpty()) {
            return new String[] {"skip", "cidAll"};
        }
        List<MessageQueue> mqAll = new ArrayList<>(mqSet);
        Collections.sort(mqAll);
        Collections.sort(cidAll);
        return direct(strategy, current, mqAll, cidAll);
    }

    // ------------------------------------------------------------------
    // The cases.

    void generate() throws IOException {
        List<Layout> layouts = standardLayouts();
        List<Clients> clientSets = standardClients();
        Layout sample = layouts.get(6);

        // The four computed strategies, every layout with every client count.
        for (Spec spec : List.of(avg(), circle(), hash(10), hash(3))) {
            boolean first = true;
            for (Layout layout : layouts) {
                for (Clients clients : clientSets) {
                    emit(true, spec, layout, clients, first);
                    first = false;
                }
                emit(true, spec, layout, ODD_CLIENTS, false);
                emit(true, spec, layout, DUP_CLIENTS, false);
            }
            emit(true, spec, sample, NO_CLIENTS, false);
            // Unsorted lists straight into the strategy, and Java's argument checks.
            for (Layout layout : List.of(layouts.get(0), layouts.get(5), layouts.get(16), layouts.get(22),
                layouts.get(23), layouts.get(24), layouts.get(25))) {
                for (Clients clients : List.of(clientSets.get(2), clientSets.get(7), DUP_CLIENTS, NO_CLIENTS)) {
                    emit(false, spec, layout, clients, true);
                }
            }
        }
        for (Spec spec : List.of(hash(1), hash(0), hash(100))) {
            for (Layout layout : List.of(layouts.get(3), layouts.get(13), layouts.get(19))) {
                for (Clients clients : List.of(clientSets.get(0), clientSets.get(3), clientSets.get(7), DUP_CLIENTS)) {
                    emit(true, spec, layout, clients, false);
                }
            }
        }

        List<MessageQueue> configured = List.of(new MessageQueue("TopicA", "broker-b", 3),
            new MessageQueue("TopicA", "broker-a", 1), new MessageQueue("Other", "broker-z", 0),
            new MessageQueue("TopicA", "broker-a", 1));
        for (Spec spec : List.of(config("4", configured), config("empty", List.of()))) {
            for (Layout layout : List.of(layouts.get(0), layouts.get(4))) {
                for (Clients clients : List.of(clientSets.get(2), NO_CLIENTS)) {
                    emit(true, spec, layout, clients, true);
                    emit(false, spec, layout, clients, true);
                }
            }
        }

        machineRoomCases(clientSets);
        nearbyCases();
    }

    void machineRoomCases(List<Clients> clientSets) throws IOException {
        List<Layout> rooms = new ArrayList<>();
        String[] plain = {"room1@broker-a", "room2@broker-b", "room1@broker-c", "room3@broker-d"};
        rooms.add(layout("rooms-4+4+2+3", new String[] {"TopicA"}, plain, new int[][] {{4, 4, 2, 3}}));
        rooms.add(layout("rooms-1+7+5+0", new String[] {"TopicA"}, plain, new int[][] {{1, 7, 5, 0}}));
        rooms.add(layout("rooms-2topics", new String[] {"TopicA", "TopicB"}, plain,
            new int[][] {{2, 3, 1, 1}, {3, 0, 2, 2}}));
        String[] odd = {"room1@", "@broker-x", "room2@broker-y@", "room1@a@b", "room1", "room1@broker-z@@",
            "room2@@broker-w", "", "@", "room\u00e9@b", "broker-plain"};
        rooms.add(layout("rooms-odd-names", new String[] {"TopicA"}, odd,
            new int[][] {{2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2}}));
        rooms.add(oneTopic(BROKERS, 3, 3, 3));

        List<Spec> specs = List.of(
            room("room1", List.of("room1")),
            room("room1+2", List.of("room1", "room2")),
            room("room3", List.of("room3")),
            room("none", List.of()),
            room("empty+room2", List.of("", "room2")),
            room("accent", List.of("room\u00e9", "nope")));
        for (Spec spec : specs) {
            boolean first = true;
            for (Layout layout : rooms) {
                for (Clients clients : List.of(clientSets.get(0), clientSets.get(2), clientSets.get(4),
                    clientSets.get(6), DUP_CLIENTS)) {
                    emit(true, spec, layout, clients, first);
                    first = false;
                }
            }
            emit(false, spec, rooms.get(3), clientSets.get(2), true);
            emit(false, spec, rooms.get(0), NO_CLIENTS, true);
            emit(true, spec, new Layout("empty", List.of()), clientSets.get(2), false);
        }
    }

    void nearbyCases() throws IOException {
        String[] brokers = {"hz-broker-a", "hz-broker-b", "sh-broker-a", "bj-broker-a", "gz"};
        List<Layout> layouts = List.of(
            layout("rooms-4+2+4+3+2", new String[] {"TopicA"}, brokers, new int[][] {{4, 2, 4, 3, 2}}),
            layout("rooms-8+8+1+0+0", new String[] {"TopicA"}, brokers, new int[][] {{8, 8, 1, 0, 0}}),
            layout("rooms-2topics", new String[] {"TopicA", "TopicB"}, brokers,
                new int[][] {{2, 1, 2, 2, 1}, {1, 2, 2, 0, 3}}),
            new Layout("bad-broker", shuffled(List.of(new MessageQueue("TopicA", "hz-broker-a", 0),
                new MessageQueue("TopicA", "-broker", 0), new MessageQueue("TopicA", "sh-broker-a", 0)))));
        List<Clients> clientSets = List.of(
            new Clients("hz2+sh1", shuffled(List.of("hz-10.0.0.1@1", "hz-10.0.0.2@2", "sh-10.0.0.3@3"))),
            new Clients("hz1+sh1+bj1+gz1", shuffled(List.of("hz-10.0.0.1@1", "sh-10.0.0.3@3",
                "bj-10.0.0.5@5", "gz"))),
            new Clients("sz3+nodash", shuffled(List.of("sz-10.0.0.7@7", "sz-10.0.0.8@8", "sz-10.0.0.9@9",
                "nodash@10"))),
            new Clients("hz5", shuffled(List.of("hz-1", "hz-2", "hz-3", "hz-4", "hz-5"))),
            new Clients("bad-client", List.of("hz-10.0.0.1@1", "-10.0.0.6@6", "sh-10.0.0.3@3")),
            DUP_CLIENTS);
        List<Spec> specs = List.of(
            nearby('-', '-', avg()),
            nearby('-', '-', circle()),
            nearby('-', '-', hash(10)),
            nearby('-', '-', config("1", List.of(new MessageQueue("TopicA", "hz-broker-a", 0)))),
            nearby('-', '-', nearby('-', '@', avg())),
            nearby('-', '.', avg()));
        for (Spec spec : specs) {
            boolean first = true;
            for (Layout layout : layouts) {
                for (Clients clients : clientSets) {
                    emit(true, spec, layout, clients, first);
                    first = false;
                }
            }
            emit(false, spec, layouts.get(0), clientSets.get(1), true);
            emit(true, spec, layouts.get(0), NO_CLIENTS, false);
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: AllocationVectors <output file>");
            System.exit(2);
        }
        // Keep the client's logback quiet and out of ~/logs.
        if (System.getProperty("rocketmq.log.root") == null) {
            System.setProperty("rocketmq.log.root",
                Path.of(System.getProperty("java.io.tmpdir"), "rmq-allocation-vectors-logs").toString());
        }
        if (System.getProperty("rocketmq.log.level") == null) {
            System.setProperty("rocketmq.log.level", "OFF");
        }
        Path target = Path.of(args[0]);
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        String version = MQVersion.getVersionDesc(MQVersion.CURRENT_VERSION);
        AllocationVectors gen;
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (String h : HEADER) {
                w.write(h.replace("%s", version));
                w.write('\n');
            }
            gen = new AllocationVectors(w);
            gen.generate();
        }
        Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        System.out.printf("%d cases, %d allocations (rocketmq-client %s) -> %s%n", gen.cases, gen.allocs,
            version, target);
    }
}
