package org.vdmount.vd.crash;

import java.nio.file.Path;
import org.vdmount.vd.storage.WriteFault;

/**
 * The daemon-like process of the crash campaign: runs the workload on an image in its own JVM,
 * armed by {@link WriteFault#HALT_PROPERTY}, so it dies by {@code Runtime.halt} at the chosen
 * write. Arguments: IMAGE WORKLOAD_SEED OPS. Exits 0 only if the fault never fired.
 */
public final class CrashChild {
    private CrashChild() {
    }

    public static void main(String[] args) throws Exception {
        CrashWorkload w = new CrashWorkload(Long.parseLong(args[1]), CrashCampaign.VIRTUAL_SIZE,
                Integer.parseInt(args[2]));
        w.run(Path.of(args[0]), new CrashWorkload.WriteCounter() {
            @Override
            public long writes() {
                return 0;
            }

            @Override
            public boolean stop() {
                return false;
            }
        });
    }
}
