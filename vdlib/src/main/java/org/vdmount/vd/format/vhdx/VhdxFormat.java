package org.vdmount.vd.format.vhdx;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
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
public final class VhdxFormat extends DeclaredFormat {

    static final CreateOption SUBFORMAT = CreateOption.choice("subformat", null,
            "dynamic or fixed; with -b: differencing (the default there) or dynamic", "dynamic", "fixed",
            "differencing");
    static final CreateOption BLOCK_SIZE = CreateOption.size("block_size", null,
            "payload block size, a power of two from 1M to 256M (default 32M, 2M for differencing)");
    static final CreateOption LOGICAL_SECTOR_SIZE = CreateOption.size("logical_sector_size", null,
            "512 or 4096 (default 512, or the parent's)");
    static final CreateOption PHYSICAL_SECTOR_SIZE = CreateOption.size("physical_sector_size", null,
            "512 or 4096 (default the logical size, or the parent's)");
    static final CreateOption LOG_SIZE = CreateOption.size("log_size", "1M",
            "log (journal) size, a multiple of 1M up to 256M");
    static final CreateOption BLOCK_STATE_ZERO = CreateOption.flag("block_state_zero",
            "on: every block of a new dynamic image starts as PAYLOAD_BLOCK_ZERO (qemu-img's default); off: "
                    + "PAYLOAD_BLOCK_NOT_PRESENT (Hyper-V's, the default here); both read as zeros");

    public VhdxFormat() {
        super(Vhdx.FORMAT, List.of("vhdx", "avhdx"),
                reads(WRITE, CREATE, CREATE_FIXED, DIFFERENCING, DISCARD, ZERO_BLOCKS, REPAIR_ON_OPEN, RESIZE),
                List.of(SUBFORMAT, BLOCK_SIZE, LOGICAL_SECTOR_SIZE, PHYSICAL_SECTOR_SIZE, LOG_SIZE, BLOCK_STATE_ZERO));
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

    /** Dynamic and differencing images: payload blocks released through the log, packed, file cut. */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new VhdxCompact());
    }

    /** Headers, log, region tables, metadata and BAT; see {@link VhdxCheck}. */
    @Override
    public java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.of(new VhdxCheck());
    }

    /** The Virtual Disk Size item and the BAT's new entries, through the log; see {@link VhdxResize}. */
    @Override
    public void resize(Image image, long newSize) throws IOException {
        VhdxResize.resize((VhdxImage) image, newSize);
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return VhdxOpener.open(this, path, options);
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        return VhdxCreator.create(this, path, options);
    }
}
