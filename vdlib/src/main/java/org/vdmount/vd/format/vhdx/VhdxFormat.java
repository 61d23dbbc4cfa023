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
 * images with 512- or 4096-byte logical sectors.
 * <ul>
 * <li>The metadata log is replayed on open: into the file when writable, in memory when read-only
 *     (the file stays byte-identical).</li>
 * <li>Block states: FULLY_PRESENT is data; NOT_PRESENT falls through to the parent (zeros in a
 *     base image); ZERO, UNDEFINED and UNMAPPED (3, and 5 of the 0.95 draft) read as zeros and
 *     hide the parent; PARTIALLY_PRESENT answers sector runs from the sector bitmap.</li>
 * <li>Writes allocate blocks at the end of the file; changed BAT and bitmap pages go through the
 *     log on flush (data forced first), or earlier when a log entry's worth has accumulated.</li>
 * <li>Discard makes whole blocks ZERO (FileOffsetMB 0, which Hyper-V requires) and punches their
 *     space; a fixed image keeps its blocks and punches (or zeroes) them in place.</li>
 * </ul>
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
