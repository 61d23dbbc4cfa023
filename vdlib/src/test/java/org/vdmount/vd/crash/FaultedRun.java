package org.vdmount.vd.crash;

import java.io.IOException;
import org.vdmount.vd.storage.WriteFault;

/**
 * One run of an operation with {@link WriteFault} armed to drop every host write after
 * {@code allowed} (the fatal one torn at a sector boundary when asked): a failure the fault
 * caused is the expected end of the run, any other failure fails the test.
 */
final class FaultedRun {
    private FaultedRun() {
    }

    /** The operation under test. */
    @FunctionalInterface
    interface Operation {
        void run() throws IOException;
    }

    /** Runs {@code op} with the fault armed; returns the host writes it attempted. */
    static long dropAfter(long allowed, boolean torn, long seed, Operation op) throws IOException {
        WriteFault.arm(allowed, WriteFault.Mode.DROP, torn, seed);
        long seen;
        try {
            op.run();
        } catch (IOException | RuntimeException e) {
            if (!WriteFault.tripped()) {
                throw e;
            }
        } finally {
            seen = WriteFault.writesSeen();
            WriteFault.disarm();
        }
        return seen;
    }
}
