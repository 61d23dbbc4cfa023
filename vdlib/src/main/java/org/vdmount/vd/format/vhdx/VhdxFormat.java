package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;

/**
 * Hyper-V Virtual Hard Disk v2 (MS-VHDX v1.00): dynamic, fixed and differencing ({@code .avhdx})
 * images with 512- or 4096-byte logical sectors. The metadata log is replayed on open, into the
 * file when writable and in memory when read-only; metadata changes are written through it.
 */
public final class VhdxFormat implements ImageFormat {

    @Override
    public String name() {
        return Vhdx.FORMAT;
    }

    @Override
    public List<String> extensions() {
        return List.of("vhdx", "avhdx");
    }

    /** "vhdxfile" at offset 0 (MS-VHDX 2.2.1). */
    @Override
    public int probe(ProbeInput in) {
        if (in.directory() || in.head().size() < 8) {
            return 0;
        }
        for (int i = 0; i < 8; i++) {
            if (in.head().u8(i) != (VhdxOpener.SIGNATURE[i] & 0xFF)) {
                return 0;
            }
        }
        return 100;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return VhdxOpener.open(this, path, options);
    }

    @Override
    public boolean canCreate() {
        return true;
    }

    @Override
    public boolean supportsParent() {
        return true;
    }

    @Override
    public Image create(Path path, CreateOptions options) throws IOException {
        return VhdxCreator.create(this, path, options);
    }
}
