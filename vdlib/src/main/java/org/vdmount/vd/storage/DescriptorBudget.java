package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * How many extra descriptors {@link FileStorage}'s reader channels may hold in this process at
 * once: a quarter of its open-files limit (RLIMIT_NOFILE's soft value as proc(5)'s
 * {@code /proc/self/limits} shows it; the JVM raises it to the hard limit at start), so striping
 * never takes the descriptors that opening more images needs. Where a channel gets no slot its
 * threads read through the main channel, as with one stripe.
 */
final class DescriptorBudget {
    /** Slots where the limit cannot be read: a quarter of the traditional 1024. */
    private static final int FALLBACK = 256;
    private static final AtomicInteger TAKEN = new AtomicInteger();
    /** Slots in all; -1 until first needed (read then, not at class load: most runs never stripe). */
    private static volatile int slots = -1;

    private DescriptorBudget() {
    }

    /** Takes a slot for one more descriptor; false when the budget is spent. */
    static boolean take() {
        int all = slots;
        if (all < 0) {
            slots = all = fromLimits(Path.of("/proc/self/limits"));
        }
        while (true) {
            int n = TAKEN.get();
            if (n >= all) {
                return false;
            }
            if (TAKEN.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    /** Gives back a slot {@link #take} gave (its descriptor is closed). */
    static void give() {
        TAKEN.decrementAndGet();
    }

    /** Slots held now. */
    static int taken() {
        return TAKEN.get();
    }

    /** Sets the number of slots (tests; -1 reads the limit again on the next take). */
    static void slots(int n) {
        slots = n;
    }

    /** A quarter of the soft "Max open files" limit in a proc(5) limits file; FALLBACK if unreadable. */
    static int fromLimits(Path limits) {
        try {
            for (String line : Files.readAllLines(limits)) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    if (soft.equals("unlimited")) {
                        return Integer.MAX_VALUE;
                    }
                    return (int) Math.min(Integer.MAX_VALUE, Long.parseLong(soft) / 4);
                }
            }
        } catch (IOException | RuntimeException e) {
            // no /proc, or a format this does not know: the fallback
        }
        return FALLBACK;
    }
}
