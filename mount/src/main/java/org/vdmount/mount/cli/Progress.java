package org.vdmount.mount.cli;

import java.io.PrintStream;
import java.util.Locale;
import org.vdmount.vd.Sizes;

/**
 * A one-line progress bar on stderr, redrawn with carriage returns at most every 100 ms. Disabled
 * (prints nothing at all) unless a terminal is attached: pipes and logs never see it.
 */
final class Progress {
    private static final int BAR_WIDTH = 30;
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintStream err;
    private final long totalBytes;
    private final boolean enabled;
    private long lastDrawNanos;
    private boolean drawn;

    Progress(PrintStream err, long totalBytes, boolean enabled) {
        this.err = err;
        this.totalBytes = totalBytes;
        this.enabled = enabled;
    }

    void update(long doneBytes) {
        if (!enabled) {
            return;
        }
        long now = System.nanoTime();
        if (drawn && now - lastDrawNanos < REDRAW_NANOS) {
            return;
        }
        lastDrawNanos = now;
        draw(doneBytes);
    }

    /** Draws the final state (100% on success) and ends the line so later messages start clean. */
    void finish(boolean completed) {
        if (!enabled) {
            return;
        }
        if (completed) {
            draw(totalBytes);
        }
        if (drawn) {
            err.println();
            err.flush();
        }
    }

    private void draw(long doneBytes) {
        double fraction = totalBytes <= 0 ? 1.0 : Math.min(1.0, (double) doneBytes / totalBytes);
        int filled = (int) (fraction * BAR_WIDTH);
        String line = String.format(Locale.ROOT, "\r%5.1f%% [%s%s] %s / %s", fraction * 100,
                "#".repeat(filled), " ".repeat(BAR_WIDTH - filled), Sizes.human(doneBytes), Sizes.human(totalBytes));
        err.print(line + "   ");
        err.flush();
        drawn = true;
    }
}
