package rmq.peer;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * rmq-java-peer: drives the Apache RocketMQ Java client (rocketmq-client 5.5.0) as an
 * interoperability peer and benchmark baseline for the rmq Rust client, with the command line
 * and JSON-lines output of the Go peer (tests/interop/go). See README.md.
 *
 * <p>stdout carries only JSON objects, one per line. Before anything else, {@code System.out}
 * is pointed at stderr, so whatever the client library (or logback's status printer) writes to
 * "the console" ends up on stderr; the JSON lines go to the real stdout file descriptor.
 */
public final class JavaPeer {
    static final int EXIT_OK = 0;
    /** Send failures, consume timeout, runtime errors. */
    static final int EXIT_FAILURE = 1;
    /** Bad command line. */
    static final int EXIT_USAGE = 2;
    /** The {@code client} field of the bench summaries. */
    static final String CLIENT = "rocketmq-client-java/5.5.0";

    private static final PrintStream STDOUT = new PrintStream(
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16),
            false, StandardCharsets.UTF_8);

    private JavaPeer() {}

    public static void main(String[] args) {
        System.setOut(System.err);
        if (args.length < 1) {
            usage();
            exit(EXIT_USAGE);
        }
        String cmd = args[0];
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        int code;
        try {
            code = switch (cmd) {
                case "produce" -> Produce.run(rest);
                case "consume" -> Consume.run(rest);
                case "bench-send" -> BenchSend.run(rest);
                case "bench-consume" -> BenchConsume.run(rest);
                case "bench-latency" -> BenchLatency.run(rest);
                case "request" -> RequestReply.runRequest(rest);
                case "reply" -> RequestReply.runReply(rest);
                case "-h", "--help", "help" -> {
                    usage();
                    yield EXIT_OK;
                }
                default -> {
                    System.err.println("unknown subcommand \"" + cmd + "\"");
                    usage();
                    yield EXIT_USAGE;
                }
            };
        } catch (Throwable t) {
            t.printStackTrace(System.err);
            fail(EXIT_FAILURE, "runtime", t.toString());
            return;
        }
        exit(code);
    }

    private static void usage() {
        System.err.println("usage: rmq-java-peer <produce|consume|request|reply|bench-send|bench-consume|bench-latency> [flags]\n"
                + "run 'rmq-java-peer <subcommand> -h' for the flags of a subcommand");
    }

    /** Writes one JSON object as a single line on stdout (thread-safe, flushed). */
    static void emit(Map<String, Object> line) {
        String text = Json.encode(line);
        synchronized (STDOUT) {
            STDOUT.print(text);
            STDOUT.print('\n');
            STDOUT.flush();
        }
    }

    /** Prints an error line and exits with {@code code}. */
    static void fail(int code, String stage, String error) {
        emit(Json.obj("type", "error", "stage", stage, "error", error));
        exit(code);
    }

    static String describe(Throwable t) {
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    /**
     * Exits the JVM (the client's non-daemon threads would otherwise keep it alive) after
     * flushing stdout and stderr; {@code halt} so no shutdown hook of the client can block it.
     */
    static void exit(int code) {
        synchronized (STDOUT) {
            STDOUT.flush();
        }
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }

    // ------------------------------------------------------------------ common flags

    /** --namesrv, --group, --topic, --log-level: registered by every subcommand. */
    static final class Common {
        String namesrv;
        String group;
        String topic;

        static void register(Flags f) {
            f.value("namesrv", "127.0.0.1:9876", "name server address(es), separated by ';' or ','");
            f.value("group", "", "producer/consumer group (required)");
            f.value("topic", "", "topic (required)");
            f.value("log-level", "error",
                    "client library log level on stderr: debug|info|warn|error|fatal");
        }

        /** Validates the common flags and configures the client's logging (before it loads). */
        static Common from(Flags f) {
            Common c = new Common();
            c.group = f.str("group");
            c.topic = f.str("topic");
            if (c.group.isEmpty()) {
                fail(EXIT_USAGE, "flags", "--group is required");
            }
            if (c.topic.isEmpty()) {
                fail(EXIT_USAGE, "flags", "--topic is required");
            }
            List<String> addrs = new ArrayList<>();
            for (String a : f.str("namesrv").split("[;,]")) {
                if (!a.isBlank()) {
                    addrs.add(a.trim());
                }
            }
            if (addrs.isEmpty()) {
                fail(EXIT_USAGE, "flags", "--namesrv is empty");
            }
            c.namesrv = String.join(";", addrs);
            setupLogging(f.str("log-level"));
            return c;
        }
    }

    /**
     * rocketmq-client 5.5.0 configures its shaded logback from {@code rmq.client.logback.xml}:
     * root level {@code rocketmq.log.level}, a rolling file under {@code rocketmq.log.root} and
     * a console appender enabled by {@code mq.consoleAppender.enabled}. The console appender
     * writes to System.out, which main() pointed at stderr. Explicit -D options win.
     */
    static void setupLogging(String level) {
        String lv = switch (level.toLowerCase(Locale.ROOT)) {
            case "debug" -> "DEBUG";
            case "info" -> "INFO";
            case "warn", "warning" -> "WARN";
            case "error" -> "ERROR";
            case "fatal", "panic" -> "ERROR";
            case "off" -> "OFF";
            default -> {
                fail(EXIT_USAGE, "flags", "invalid --log-level \"" + level + "\"");
                yield "ERROR";
            }
        };
        if (System.getProperty("rocketmq.log.level") == null) {
            System.setProperty("rocketmq.log.level", lv);
        }
        if (System.getProperty("mq.consoleAppender.enabled") == null) {
            System.setProperty("mq.consoleAppender.enabled", "true");
        }
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"), "rmq-java-peer");
        if (System.getProperty("rocketmq.log.root") == null) {
            System.setProperty("rocketmq.log.root", tmp.resolve("logs").toString());
        }
        // Broadcasting consumers keep their offsets in local files (default ~/.rocketmq_offsets).
        if (System.getProperty("rocketmq.client.localOffsetStoreDir") == null) {
            System.setProperty("rocketmq.client.localOffsetStoreDir", tmp.resolve("offsets").toString());
        }
    }
}
