package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import org.vdmount.vd.Disk;

/** Lets the qed and qcow tests reuse the random write/discard sequence of {@link Qcow2WriteTest}. */
public final class Qcow2WriteTestAccess {
    private Qcow2WriteTestAccess() {
    }

    public static void scribble(Disk d, byte[] model, long seed, int ops) throws IOException {
        Qcow2WriteTest.scribble(d, model, seed, ops);
    }
}
