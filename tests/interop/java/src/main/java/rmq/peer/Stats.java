package rmq.peer;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Process CPU time, peak RSS, latency percentiles and message bodies. */
final class Stats {
    private Stats() {}

    /**
     * CPU time of the whole process (user + system; the JVM cannot split them) in seconds,
     * from {@code com.sun.management.OperatingSystemMXBean.getProcessCpuTime()}.
     */
    static double cpuSec() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            long ns = sun.getProcessCpuTime();
            if (ns >= 0) {
                return ns / 1e9;
            }
        }
        return 0;
    }

    /** {@code v} rounded to microseconds (CPU-time differences without float noise). */
    static double micros(double v) {
        return Math.round(v * 1e6) / 1e6;
    }

    /** Peak resident set size in KiB ({@code VmHWM} from /proc/self/status), 0 if unknown. */
    static long maxRssKib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(parts[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no figure
        }
        return 0;
    }

    /** The q-quantile of sorted nanosecond values in milliseconds (index q*(n-1), as the Go peer). */
    static double percentileMs(long[] sortedNanos, double q) {
        if (sortedNanos.length == 0) {
            return 0;
        }
        int idx = (int) (q * (sortedNanos.length - 1));
        return Math.round(sortedNanos[idx] / 1e3) / 1e3;
    }

    static long[] sorted(long[] values) {
        long[] copy = values.clone();
        Arrays.sort(copy);
        return copy;
    }

    /** {@code size} bytes 'a'..'z' cycling, shifted by {@code seq} (the Go peer's makeBody). */
    static byte[] letters(int size, int seq) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) ('a' + Math.floorMod(i + seq, 26));
        }
        return b;
    }

    /** Wall-clock time in nanoseconds since the epoch (microsecond resolution on Linux). */
    static long wallNanos() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** A growable array of longs. */
    static final class LongList {
        private long[] data = new long[1024];
        private int size;

        void add(long v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, size * 2);
            }
            data[size++] = v;
        }

        void addAll(LongList other) {
            for (int i = 0; i < other.size; i++) {
                add(other.data[i]);
            }
        }

        int size() {
            return size;
        }

        long[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }
}
