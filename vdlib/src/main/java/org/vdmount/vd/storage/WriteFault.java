package org.vdmount.vd.storage;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Crash injection for the crash campaign: a process-wide interceptor that {@link FileStorage}
 * consults before every write, truncate, hole punch and force. When armed it lets the first N
 * writes through and then "dies" at the next one:
 * <ul>
 * <li>{@link Mode#HALT}: {@code Runtime.halt} — what {@code kill -9} does to a mount daemon. Armed
 *     in a fresh JVM by the system property {@value #HALT_PROPERTY}{@code =N[,torn]}.</li>
 * <li>{@link Mode#DROP}: for fast in-JVM campaigns, every later write, truncate and punch is
 *     silently dropped, so the files hold exactly the first N writes (what kill -9 leaves behind,
 *     since the host page cache survives the process). The image is then closed and reopened.</li>
 * </ul>
 * With {@code torn}, write N+1 is not dropped whole: only its first part reaches the file, cut at
 * a random sector boundary (possibly none of it), as a write interrupted inside the kernel.
 *
 * <p>Disarmed, each intercepted call costs one volatile read.
 */
public final class WriteFault {
    /** {@code N[,torn]}: halt the JVM at write N+1 (after its torn prefix, with {@code torn}). */
    public static final String HALT_PROPERTY = "vdmount.fault.halt-after-writes";
    /** Seed for the torn cut when armed by {@link #HALT_PROPERTY}; default 1. */
    public static final String SEED_PROPERTY = "vdmount.fault.seed";
    /** Exit status of a halted JVM: that of a process killed by SIGKILL. */
    public static final int HALT_STATUS = 137;

    private static final int SECTOR = 512;

    /** How the process "dies" once the allowed writes are spent. */
    public enum Mode { HALT, DROP }

    private static volatile Plan plan = fromProperties();

    private WriteFault() {
    }

    /** Arms the interceptor for this process: {@code allowedWrites} pass, then the fault. */
    public static void arm(long allowedWrites, Mode mode, boolean torn, long seed) {
        if (allowedWrites < 0) {
            throw new IllegalArgumentException("allowed writes " + allowedWrites + " < 0");
        }
        plan = new Plan(allowedWrites, mode, torn, seed);
    }

    /** Disarms; later I/O goes through untouched. */
    public static void disarm() {
        plan = null;
    }

    /** Writes, truncates and punches seen since arming (passed or not); 0 when disarmed. */
    public static long writesSeen() {
        Plan p = plan;
        return p == null ? 0 : p.seen.get();
    }

    /** Whether the armed fault has happened (DROP mode: later writes are being dropped). */
    public static boolean tripped() {
        Plan p = plan;
        return p != null && p.seen.get() > p.allowed;
    }

    /**
     * Called before writing {@code length} bytes at {@code pos}: how many of them to write.
     * -1 = all of them (disarmed or still allowed), else a prefix (0 = drop it). Halts the JVM
     * here if the fault is HALT without torn; with torn the caller writes the prefix and then calls
     * {@link #afterCutWrite}.
     */
    static int admitWrite(long pos, int length) {
        Plan p = plan;
        return p == null ? -1 : p.admitWrite(pos, length);
    }

    /** After the torn prefix of the fatal write reached the file: halts in HALT mode. */
    static void afterCutWrite() {
        Plan p = plan;
        if (p != null && p.mode == Mode.HALT) {
            halt();
        }
    }

    /** Called before a truncate or hole punch: whether to do it (false = dropped; HALT halts). */
    static boolean admitChange() {
        Plan p = plan;
        return p == null || p.admitChange();
    }

    /** Called before a force: false once the fault has happened (nothing more reaches the disk). */
    static boolean admitForce() {
        Plan p = plan;
        return p == null || p.seen.get() <= p.allowed;
    }

    private static void halt() {
        Runtime.getRuntime().halt(HALT_STATUS);
    }

    private static Plan fromProperties() {
        String spec = System.getProperty(HALT_PROPERTY);
        if (spec == null || spec.isBlank()) {
            return null;
        }
        String[] parts = spec.trim().split(",");
        long n = Long.parseLong(parts[0].trim());
        boolean torn = parts.length > 1 && parts[1].trim().equals("torn");
        if (parts.length > 2 || (parts.length == 2 && !torn) || n < 0) {
            throw new IllegalArgumentException(HALT_PROPERTY + "=" + spec + ": expected N or N,torn");
        }
        return new Plan(n, Mode.HALT, torn, Long.getLong(SEED_PROPERTY, 1L));
    }

    private static final class Plan {
        final long allowed;
        final Mode mode;
        final boolean torn;
        final SplittableRandom random;
        final AtomicLong seen = new AtomicLong();

        Plan(long allowed, Mode mode, boolean torn, long seed) {
            this.allowed = allowed;
            this.mode = mode;
            this.torn = torn;
            this.random = new SplittableRandom(seed);
        }

        int admitWrite(long pos, int length) {
            long n = seen.incrementAndGet();
            if (n <= allowed) {
                return -1;
            }
            if (n == allowed + 1 && torn) {
                return tornPrefix(pos, length);
            }
            if (mode == Mode.HALT) {
                halt();
            }
            return 0;
        }

        boolean admitChange() {
            long n = seen.incrementAndGet();
            if (n <= allowed) {
                return true;
            }
            if (mode == Mode.HALT) {
                halt();
            }
            return false;
        }

        /** A prefix ending on a sector boundary of the file, shorter than the write (maybe empty). */
        private synchronized int tornPrefix(long pos, int length) {
            long firstBoundary = (pos + SECTOR - 1) / SECTOR * SECTOR - pos;
            int cuts = 1; // the empty prefix
            if (firstBoundary < length) {
                cuts += (int) ((length - 1 - firstBoundary) / SECTOR) + (firstBoundary == 0 ? 0 : 1);
            }
            int pick = random.nextInt(cuts);
            if (pick == 0) {
                return 0;
            }
            long cut = firstBoundary == 0 ? (long) pick * SECTOR : firstBoundary + (long) (pick - 1) * SECTOR;
            return (int) cut;
        }
    }
}
