package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.StorageScope;

/**
 * Opening a VHDX file, in the order MS-VHDX 2.1 prescribes: file identifier, current header, log
 * replay (into the file when writable, in memory otherwise), region table, metadata, BAT. Every
 * offset, length and state is checked here, once, against the file and the format's limits.
 */
final class VhdxOpener {
    static final byte[] SIGNATURE = "vhdxfile".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private final ImageFormat format;
    private final Path path;
    private final OpenOptions options;
    private final VhdxFile file;
    private final boolean readOnly;

    private VhdxOpener(ImageFormat format, Path path, OpenOptions options, VhdxFile file) {
        this.format = format;
        this.path = path;
        this.options = options;
        this.file = file;
        this.readOnly = options.readOnly();
    }

    static VhdxImage open(ImageFormat format, Path path, OpenOptions options) throws IOException {
        return StorageScope.open(path, options,
                storage -> new VhdxOpener(format, path, options, new VhdxFile(storage)).open());
    }

    private VhdxImage open() throws IOException {
        long size = file.size();
        byte[] id = file.storage().size() >= 8 ? file.read(0, 8, "file identifier") : new byte[0];
        if (!Arrays.equals(id, SIGNATURE)) {
            throw new NotThisFormatException("vhdx: " + path + " has no 'vhdxfile' signature");
        }
        if (size < Vhdx.HEADER_SECTION_BYTES) {
            throw new TruncatedImageException(Vhdx.FORMAT, path, "header section", 0, Vhdx.HEADER_SECTION_BYTES, size);
        }
        String creator = Bytes.of(file.read(8, 512, "file identifier")).utf16le(0, 512);
        Headers headers = currentHeader();
        VhdxHeader h = headers.current();
        String logState = replayLog(headers);
        RegionTable regions = regionTable();
        List<long[]> used = new ArrayList<>(); // [start, end) of the header section, log and regions
        used.add(new long[] {0, Vhdx.HEADER_SECTION_BYTES});
        if (h.logLengthBytes() > 0) {
            used.add(new long[] {h.logOffsetBytes(), h.logOffsetBytes() + h.logLengthBytes()});
        }
        List<long[]> others = new ArrayList<>(); // optional regions this library does not read
        RegionTable.Entry batRegion = null;
        RegionTable.Entry metaRegion = null;
        for (RegionTable.Entry e : regions.entries()) {
            boolean bat = e.guid().equals(Vhdx.BAT_REGION);
            boolean md = e.guid().equals(Vhdx.METADATA_REGION);
            if (!bat && !md) {
                if (e.required()) {
                    throw new UnsupportedFeatureException("vhdx: " + path + " needs region " + e.guid()
                            + " which is marked required and not supported");
                }
                others.add(new long[] {e.fileOffsetBytes(), e.end()}); // kept where it is (compact)
                continue;
            }
            if (bat && batRegion != null || md && metaRegion != null) {
                throw corrupt("region table", Vhdx.REGION1_OFFSET, "region " + e.guid() + " appears twice");
            }
            checkRange("region " + e.guid(), Vhdx.REGION1_OFFSET, e.fileOffsetBytes(), e.lengthBytes(), used);
            used.add(new long[] {e.fileOffsetBytes(), e.end()});
            if (bat) {
                batRegion = e;
            } else {
                metaRegion = e;
            }
        }
        if (batRegion == null || metaRegion == null) {
            throw corrupt("region table", Vhdx.REGION1_OFFSET, "no " + (batRegion == null ? "BAT" : "metadata")
                    + " region");
        }
        VhdxMetadata meta = VhdxMetadata.read(file, metaRegion);
        Bat bat = Bat.read(file, batRegion, meta);
        long[] scan = scanBat(bat, meta, used);
        long end = Math.max(file.size(), scan[1]);
        for (long[] u : used) {
            end = Math.max(end, u[1]);
        }
        List<long[]> fixed = new ArrayList<>(used);
        fixed.addAll(others);
        return new VhdxImage(format, file, readOnly, headers, meta, metaRegion, bat, parentReference(meta), logState,
                creator, Vhdx.roundUp(end, Vhdx.MIB), scan[0], fixed);
    }

    // ---- headers, log, region table -------------------------------------------------------------

    private Headers currentHeader() throws IOException {
        VhdxHeader h1 = VhdxHeader.parse(file.read(Vhdx.HEADER1_OFFSET, VhdxHeader.SIZE, "header 1"));
        VhdxHeader h2 = VhdxHeader.parse(file.read(Vhdx.HEADER2_OFFSET, VhdxHeader.SIZE, "header 2"));
        if (h1 == null && h2 == null) {
            throw corrupt("header", Vhdx.HEADER1_OFFSET, "neither header has a valid signature and checksum");
        }
        if (h1 != null && h2 != null && h1.sequence() == h2.sequence() && !h1.equals(h2)) {
            throw corrupt("header", Vhdx.HEADER1_OFFSET, "both headers have sequence " + h1.sequence()
                    + " but differ");
        }
        Headers headers = h2 == null || h1 != null && Long.compareUnsigned(h1.sequence(), h2.sequence()) >= 0
                ? new Headers(h1, 0) : new Headers(h2, 1);
        if (h1 == null || h2 == null) {
            options.warn("vhdx: " + path + ": header " + (h1 == null ? 1 : 2) + " is damaged, using the other");
        }
        VhdxHeader h = headers.current();
        long at = Headers.offset(headers.slot());
        if (h.version() != 1) {
            throw new UnsupportedFeatureException("vhdx: " + path + " has format version " + h.version()
                    + " (only 1 is supported)");
        }
        if (h.logVersion() != 0) {
            throw new UnsupportedFeatureException("vhdx: " + path + " has log version " + h.logVersion()
                    + " (only 0 is supported)");
        }
        if (h.logLengthBytes() % Vhdx.MIB != 0 || h.logOffsetBytes() % Vhdx.MIB != 0
                || h.logLengthBytes() > 0 && h.logOffsetBytes() < Vhdx.HEADER_SECTION_BYTES) {
            throw corrupt("header", at, "log at " + Vhdx.hex(h.logOffsetBytes()) + "+" + h.logLengthBytes()
                    + " is not 1 MiB-aligned after the header section");
        }
        if (h.logLengthBytes() > 0 && (h.logOffsetBytes() > Long.MAX_VALUE / 2
                || h.logOffsetBytes() + h.logLengthBytes() > file.size())) {
            throw new TruncatedImageException(Vhdx.FORMAT, path, "log", h.logOffsetBytes(), h.logLengthBytes(),
                    file.size());
        }
        return headers;
    }

    /** Replays the active log sequence, if any; returns the log state shown by {@code vd info}. */
    private String replayLog(Headers headers) throws IOException {
        VhdxHeader h = headers.current();
        LogReplay.Result r = LogReplay.find(file.storage(), h);
        if (r == null) {
            return "clean";
        }
        String what = r.entries() + (r.entries() == 1 ? " entry" : " entries") + ", " + r.ops().size()
                + " writes";
        if (readOnly) {
            file.overlay(LogReplay.toOverlay(file.storage(), r), r.lastFileOffset());
            options.warn("vhdx: " + path + " has an unapplied log; replayed in memory (file left untouched)");
            return "replayed in memory (" + what + ")";
        }
        LogReplay.applyToFile(file, r);
        headers.update(file, UUID.randomUUID(), h.dataWriteGuid(), Vhdx.ZERO_GUID);
        return "replayed (" + what + ")";
    }

    private RegionTable regionTable() throws IOException {
        RegionTable primary = null;
        RegionTable backup = null;
        CorruptImageException failure = null;
        try {
            primary = RegionTable.parse(file.read(Vhdx.REGION1_OFFSET, RegionTable.SIZE, "region table"), path,
                    Vhdx.REGION1_OFFSET);
        } catch (CorruptImageException e) {
            failure = e;
        }
        try {
            backup = RegionTable.parse(file.read(Vhdx.REGION2_OFFSET, RegionTable.SIZE, "region table"), path,
                    Vhdx.REGION2_OFFSET);
        } catch (CorruptImageException e) {
            if (failure != null) {
                throw failure;
            }
            options.warn("vhdx: " + path + ": second region table is damaged (" + e.getMessage() + ")");
        }
        if (primary == null) {
            options.warn("vhdx: " + path + ": first region table is damaged, using the second ("
                    + failure.getMessage() + ")");
            return backup;
        }
        if (backup != null && !backup.equals(primary)) {
            options.warn("vhdx: " + path + ": the two region tables differ; using the first");
        }
        return primary;
    }

    // ---- BAT ----------------------------------------------------------------------------------

    /** Checks every entry; returns {present payload blocks, end of the last block anything uses}. */
    private long[] scanBat(Bat bat, VhdxMetadata meta, List<long[]> used) throws IOException {
        long present = 0;
        long end = 0;
        List<long[]> blocks = readOnly ? null : new ArrayList<>();
        for (long i = 0; i < bat.entryCount; i++) {
            long e = bat.get((int) i);
            int state = Bat.state(e);
            long off = Bat.offset(e);
            long at = bat.regionOffset + 8 * i;
            long len;
            if (bat.isBitmapIndex(i)) {
                if (state != Bat.SB_NOT_PRESENT && state != Bat.SB_PRESENT) {
                    throw corrupt("BAT", at, "sector bitmap entry " + i + " has invalid state " + state);
                }
                if (state != Bat.SB_PRESENT || !meta.hasParent()) {
                    continue;
                }
                len = Vhdx.MIB;
            } else {
                if (state == 4 || state == Bat.PARTIALLY_PRESENT && !meta.hasParent()) {
                    throw corrupt("BAT", at, "payload entry " + i + " has state " + state + ", invalid for a "
                            + (meta.hasParent() ? "differencing" : "non-differencing") + " image");
                }
                boolean holds = state == Bat.FULLY_PRESENT || state == Bat.PARTIALLY_PRESENT;
                if (!holds) {
                    if (off >= Vhdx.HEADER_SECTION_BYTES && off < file.size()) {
                        end = Math.max(end, off + bat.blockSize); // reserved space: never allocate over it
                    }
                    continue;
                }
                present++;
                len = bat.blockSize;
            }
            checkRange("block of BAT entry " + i, at, off, len, used);
            end = Math.max(end, off + len);
            if (blocks != null) {
                blocks.add(new long[] {off, off + len});
            }
        }
        if (blocks != null) {
            checkNoOverlap(blocks);
        }
        return new long[] {present, end};
    }

    /** A writable open refuses blocks that share file space: a write to one would change the other. */
    private void checkNoOverlap(List<long[]> blocks) throws CorruptImageException {
        blocks.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 1; i < blocks.size(); i++) {
            if (blocks.get(i)[0] < blocks.get(i - 1)[1]) {
                throw corrupt("BAT", 0, "blocks at " + Vhdx.hex(blocks.get(i - 1)[0]) + " and "
                        + Vhdx.hex(blocks.get(i)[0]) + " overlap");
            }
        }
    }

    /** [off, off+len) must be 1 MiB-aligned, past the header section and clear of the structures. */
    private void checkRange(String what, long at, long off, long len, List<long[]> used) throws IOException {
        if (off % Vhdx.MIB != 0 || len <= 0 || len % Vhdx.MIB != 0 || off < Vhdx.HEADER_SECTION_BYTES
                || off > (1L << 60)) {
            throw corrupt(what.startsWith("region") ? "region table" : "BAT", at, what + " at " + Vhdx.hex(off)
                    + "+" + len + " is not a 1 MiB-aligned range after the header section");
        }
        for (long[] u : used) {
            if (off < u[1] && off + len > u[0]) {
                throw corrupt(what.startsWith("region") ? "region table" : "BAT", at, what + " at "
                        + Vhdx.hex(off) + "+" + len + " overlaps the structure at " + Vhdx.hex(u[0]));
            }
        }
        if (what.startsWith("region") && off + len > file.size()) {
            throw new TruncatedImageException(Vhdx.FORMAT, path, what, off, len, file.size());
        }
    }

    private ParentReference parentReference(VhdxMetadata meta) throws CorruptImageException {
        if (!meta.hasParent()) {
            return null;
        }
        Map<String, String> e = meta.parentLocator().entries();
        UUID linkage = ParentLocator.guidValue(e.get(ParentLocator.PARENT_LINKAGE));
        if (linkage == null) {
            throw corrupt("parent locator", 0, "parent_linkage is missing or not a GUID: "
                    + e.get(ParentLocator.PARENT_LINKAGE));
        }
        List<String> locators = new ArrayList<>();
        for (String key : List.of(ParentLocator.RELATIVE_PATH, ParentLocator.VOLUME_PATH,
                ParentLocator.ABSOLUTE_WIN32_PATH)) {
            String v = e.get(key);
            if (v != null && v.indexOf('\0') < 0) { // a NUL cannot be in a host path
                locators.add(v);
            }
        }
        return new ParentReference(linkage, locators, Vhdx.FORMAT);
    }

    private CorruptImageException corrupt(String structure, long at, String detail) {
        return new CorruptImageException(Vhdx.FORMAT, path, structure, at, detail);
    }
}
