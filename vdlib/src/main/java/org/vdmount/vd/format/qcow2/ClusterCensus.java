package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * The refcount of every host cluster, counted from the metadata alone (qcow2.txt "Host cluster
 * management"; the dirty bit says the refcounts on disk may be stale): the header cluster, the
 * L1 table of the active image and of every internal snapshot, the L2 tables and data clusters
 * they reach, the host clusters the sectors of compressed clusters touch, the snapshot table and
 * the persistent bitmaps (directory, tables, data). The refcount table and blocks are not
 * counted: the repair replaces them. With an external data file, data clusters are not counted.
 *
 * <p>Every L1 table is walked on its own, as QEMU counts: an L2 table or data cluster reached
 * from n L1 tables has refcount n (qcow2.txt "Snapshots"). Damage is refused rather than
 * "repaired" into silent data loss: a cluster reached twice from one L1 table (only snapshots may
 * share), a cluster used for two different things, a reference past the end of the file or an
 * unaligned one. Memory: one int per host cluster of the file, checked against the heap first.
 */
final class ClusterCensus {
    // what a cluster is used for, kept in the top bits of its counter
    static final int FREE = 0;
    static final int META = 1;        // header, L1 tables, snapshot table, bitmaps: one reference only
    static final int L2 = 2;          // shared between L1 tables (snapshots) only
    static final int DATA = 3;        // shared between L1 tables (snapshots) only
    static final int COMPRESSED = 4;  // shared freely: compressed clusters pack into host clusters
    private static final String[] USE_NAMES = {"free space", "metadata", "L2 table", "data", "compressed data"};
    private static final int USE_SHIFT = 29;
    private static final int COUNT_MASK = (1 << USE_SHIFT) - 1;
    private static final int L1_CHUNK_ENTRIES = 1 << 16;
    // reserved bits (qcow2.txt "L1 table entry", "Standard Cluster Descriptor"): QEMU's check counts them as corruption
    private static final long L1_RESERVED = 0x7f00_0000_0000_01ffL;
    private static final long L2_RESERVED = 0x3f00_0000_0000_01feL;

    private final Storage storage;
    private final Path path;
    private final Qcow2Header header;
    private final int clusterBits;
    private final long clusterSize;
    private final long fileSize;
    private final boolean externalData;
    private final boolean extL2;
    private final int csizeShift;
    private final long csizeMask;
    private final long maxCount;
    private final int[] counter;                    // use << USE_SHIFT | refcount, per host cluster
    private final BitSet inTable = new BitSet();    // clusters the current L1 table already reached
    private final ByteBuffer l2Buffer;
    private String table = "";                      // "active image" or "snapshot 'x'", for messages

    private ClusterCensus(Storage storage, Qcow2Header header) throws IOException {
        this.storage = storage;
        this.path = storage.path();
        this.header = header;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.fileSize = storage.size();
        this.externalData = header.externalDataFile();
        this.extL2 = header.extendedL2();
        this.csizeShift = 62 - (clusterBits - 8);
        this.csizeMask = (1L << (clusterBits - 8)) - 1;
        this.maxCount = Math.min(Refcounts.maxRefcount(header.refcountOrder()), COUNT_MASK);
        long clusters = (fileSize + clusterSize - 1) >>> clusterBits;
        long limit = Math.min(Integer.MAX_VALUE - 64, Runtime.getRuntime().maxMemory() / 16);
        if (clusters > limit) {
            throw new UnsupportedFeatureException("qcow2: " + path + " has the dirty bit set and " + clusters
                    + " host clusters, too many to rebuild its refcounts in memory (limit " + limit
                    + "); open it read-only, or repair it with 'qemu-img check -r all'");
        }
        this.counter = new int[(int) clusters];
        this.l2Buffer = ByteBuffer.allocate((int) clusterSize);
    }

    /** Counts every reference the header, the L1 tables (active, snapshots) and extensions make. */
    static ClusterCensus take(Storage storage, Qcow2Header h, HeaderExtensions ext, List<Qcow2Snapshot> snapshots)
            throws IOException {
        ClusterCensus c = new ClusterCensus(storage, h);
        if (h.externalDataFile() && !snapshots.isEmpty()) {
            throw c.refuse("header", 0x3C, snapshots.size() + " internal snapshots in an image with an external "
                    + "data file");
        }
        c.add(0, META, "header", 0);
        c.walk("active image", h.l1TableOffset(), h.l1Size(), Qcow2Header.OFF_L1_TABLE);
        if (!snapshots.isEmpty()) {
            Qcow2Snapshot last = snapshots.get(snapshots.size() - 1);
            c.addRange(h.snapshotsOffset(), last.entryOffset() + last.entryBytes() - h.snapshotsOffset(), META,
                    "snapshot table", h.snapshotsOffset());
        }
        for (Qcow2Snapshot s : snapshots) {
            c.checkSnapshot(s);
            c.walk(label(s), s.l1TableOffset(), s.l1Size(), s.entryOffset());
        }
        c.bitmaps(ext);
        if (ext.cryptoHeader()) {
            // the LUKS header and key slots of an encrypted image (qcow2.txt, extension 0x0537be77)
            c.addRange(ext.cryptoOffset(), ext.cryptoLength(), META, "full disk encryption header", ext.start());
        }
        return c;
    }

    /** Host clusters the file holds (a partial last cluster counts); every counted cluster is below. */
    long clusters() {
        return counter.length;
    }

    /** The refcount of host cluster {@code c} (0 for free). */
    long count(long c) {
        return counter[(int) c] & COUNT_MASK;
    }

    // ---- walking ------------------------------------------------------------------------------

    /** "snapshot 'name'" for messages: control characters replaced, at most 64 characters of the name. */
    private static String label(Qcow2Snapshot s) {
        String n = s.name().replaceAll("\\p{Cntrl}", "?");
        return "snapshot '" + (n.length() > 64 ? n.substring(0, 64) + "..." : n) + "'";
    }

    private void checkSnapshot(Qcow2Snapshot s) throws IOException {
        String where = "snapshot table";
        String name = label(s);
        if (header.version() >= 3 && s.diskSizeBytes() < 0) {
            throw refuse(where, s.entryOffset(), name + " lacks the 16 bytes of extra data version 3 requires");
        }
        if (s.l1Size() * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw refuse(where, s.entryOffset(), name + " has an L1 table of " + s.l1Size()
                    + " entries, more than " + Qcow2Header.MAX_L1_BYTES / 8);
        }
        if (s.l1Size() > 0 && (s.l1TableOffset() < clusterSize || (s.l1TableOffset() & (clusterSize - 1)) != 0)) {
            throw refuse(where, s.entryOffset(), name + " L1 table offset 0x"
                    + Long.toHexString(s.l1TableOffset()) + " is not a cluster-aligned position after the header");
        }
        if (s.l1TableOffset() > fileSize || s.l1Size() * 8 > fileSize - s.l1TableOffset()) {
            throw refuse(where, s.entryOffset(), name + " L1 table at 0x"
                    + Long.toHexString(s.l1TableOffset()) + " lies past the end of the file (0x"
                    + Long.toHexString(fileSize) + ")");
        }
    }

    /** Counts one L1 table, its L2 tables and their clusters; {@code at} locates the L1 pointer. */
    private void walk(String name, long l1Offset, long l1Size, long at) throws IOException {
        table = name;
        inTable.clear();
        if (l1Size == 0) {
            return;
        }
        addRange(l1Offset, l1Size * 8, META, name + " L1 table", at);
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(l1Size, L1_CHUNK_ENTRIES) * 8);
        for (long i = 0; i < l1Size; i += L1_CHUNK_ENTRIES) {
            int n = (int) Math.min(L1_CHUNK_ENTRIES, l1Size - i);
            buf.clear().limit(n * 8);
            storage.readFully(buf, l1Offset + i * 8, "qcow2", "L1 table");
            Bytes b = Bytes.of(buf.array());
            for (int k = 0; k < n; k++) {
                long entryAt = l1Offset + (i + k) * 8;
                long e = b.u64be(k * 8);
                long l2 = e & Qcow2Image.OFFSET_MASK;
                String where = name + " L1 table";
                if ((e & L1_RESERVED) != 0) {
                    throw refuse(where, entryAt, "entry 0x" + Long.toHexString(e) + " has reserved bits set");
                }
                if (l2 == 0) {
                    continue;
                }
                if ((l2 & (clusterSize - 1)) != 0) {
                    throw refuse(where, entryAt, "L2 table offset 0x" + Long.toHexString(l2)
                            + " is not cluster-aligned");
                }
                if (l2 > fileSize - clusterSize) {
                    throw refuse(where, entryAt, "L2 table 0x" + Long.toHexString(l2)
                            + " lies past the end of the file (0x" + Long.toHexString(fileSize) + ")");
                }
                once(l2 >>> clusterBits, L2, where, entryAt);
                walkL2(l2);
            }
        }
    }

    private void walkL2(long l2) throws IOException {
        l2Buffer.clear();
        storage.readFully(l2Buffer, l2, "qcow2", "L2 table");
        Bytes b = Bytes.of(l2Buffer.array());
        int step = extL2 ? 16 : 8;
        String where = table + " L2 table";
        for (int p = 0; p < clusterSize; p += step) {
            long e = b.u64be(p);
            long bitmap = extL2 ? b.u64be(p + 8) : 0;
            if ((e & Qcow2Image.COMPRESSED) != 0) {
                if (bitmap != 0) {
                    throw refuse(where, l2 + p, "compressed cluster with a subcluster bitmap 0x"
                            + Long.toHexString(bitmap));
                }
                compressed(e, where, l2 + p);
                continue;
            }
            if ((e & L2_RESERVED) != 0) {
                throw refuse(where, l2 + p, "entry 0x" + Long.toHexString(e) + " has reserved bits set");
            }
            long host = e & Qcow2Image.OFFSET_MASK;
            boolean hasHost = host != 0 || externalData && (e & Qcow2Image.COPIED) != 0;
            if (extL2 && ((bitmap & bitmap >>> 32 & 0xFFFF_FFFFL) != 0 || !hasHost && (bitmap & 0xFFFF_FFFFL) != 0)) {
                throw refuse(where, l2 + p, "subcluster bitmap 0x" + Long.toHexString(bitmap) + " marks subclusters "
                        + (hasHost ? "both allocated and zero" : "allocated in a cluster without host offset"));
            }
            if (host == 0 || externalData) {
                continue; // unallocated, zero without host cluster, or in the data file (not refcounted)
            }
            if ((host & (clusterSize - 1)) != 0) {
                throw refuse(where, l2 + p, "data cluster offset 0x" + Long.toHexString(host)
                        + " is not cluster-aligned");
            }
            once(host >>> clusterBits, DATA, where, l2 + p);
        }
    }

    /** Every host cluster the sectors of a compressed cluster touch (qcow2.txt "Compressed Clusters Descriptor"). */
    private void compressed(long e, String where, long at) throws IOException {
        if (externalData) {
            throw refuse(where, at, "compressed cluster in an image with an external data file");
        }
        long off = e & ((1L << csizeShift) - 1);
        long sectors = ((e >>> csizeShift) & csizeMask) + 1;
        long end = (off & ~511L) + sectors * 512;
        for (long c = off >>> clusterBits; c <= (end - 1) >>> clusterBits; c++) {
            add(c, COMPRESSED, where, at);
        }
    }

    private void bitmaps(HeaderExtensions ext) throws IOException {
        if (ext.bitmapCount() == 0) {
            return;
        }
        List<long[]> ranges = Bitmaps.ranges(storage, ext, clusterSize);
        if (ranges == null) {
            if ((header.autoclearFeatures() & Qcow2Header.AUTOCLEAR_BITMAPS) != 0) {
                throw refuse("bitmaps extension", ext.start(), "the bitmap directory or a bitmap table points "
                        + "outside the file or is misaligned");
            }
            return; // a stale extension (autoclear bit cleared): QEMU ignores it, and so does the writer
        }
        for (long[] r : ranges) {
            addRange(r[0], r[1], META, "bitmaps extension", r[0]);
        }
    }

    // ---- counting -----------------------------------------------------------------------------

    private void addRange(long offset, long bytes, int use, String where, long at) throws IOException {
        if (bytes <= 0) {
            return;
        }
        for (long c = offset >>> clusterBits; c <= (offset + bytes - 1) >>> clusterBits; c++) {
            add(c, use, where, at);
        }
    }

    /** One reference from the current L1 table, which must not reach the cluster twice. */
    private void once(long c, int use, String where, long at) throws IOException {
        if (c < counter.length && inTable.get((int) c)) {
            throw refuse(where, at, describe(use) + " cluster 0x" + Long.toHexString(c << clusterBits)
                    + " is referenced twice by the " + table + " (only snapshots may share clusters)");
        }
        add(c, use, where, at);
        inTable.set((int) c);
    }

    private void add(long c, int use, String where, long at) throws IOException {
        if (c >= counter.length) {
            throw refuse(where, at, describe(use) + " cluster 0x" + Long.toHexString(c << clusterBits)
                    + " lies past the end of the file (0x" + Long.toHexString(fileSize) + ")");
        }
        int v = counter[(int) c];
        int was = v >>> USE_SHIFT;
        long n = v & COUNT_MASK;
        if (was != FREE && (was != use || use == META)) {
            throw refuse(where, at, "cluster 0x" + Long.toHexString(c << clusterBits) + " is used as "
                    + describe(use) + " but already as " + describe(was));
        }
        if (n >= maxCount) {
            throw refuse(where, at, "cluster 0x" + Long.toHexString(c << clusterBits) + " has more references than "
                    + (1 << header.refcountOrder()) + "-bit refcounts hold");
        }
        counter[(int) c] = use << USE_SHIFT | (int) (n + 1);
    }

    private static String describe(int use) {
        return USE_NAMES[use];
    }

    private CorruptImageException refuse(String structure, long at, String detail) {
        return new CorruptImageException("qcow2", path, structure, at, detail
                + "; the dirty image was not repaired (open it read-only)");
    }
}
