package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.concurrent.locks.ReentrantLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.SnapshotKey;
import org.vdmount.vd.VdException;

/**
 * Creates, applies and deletes internal snapshots (qcow2.txt "Snapshots", "Host cluster
 * management"; the semantics of {@code qemu-img snapshot -c/-a/-d}). Every operation orders its
 * writes so that a refcount is raised (and forced) before a new reference to the cluster appears
 * and lowered only after the old reference is gone: a kill leaves leaked clusters at worst. With
 * version 3 the dirty bit brackets the whole operation, so the next writable open rebuilds the
 * refcounts and the COPIED flags ({@link RefcountRebuild}) and reclaims the leaks. The snapshot
 * table is always written to new clusters and the header switched to it in one 12-byte write
 * (nb_snapshots at 0x3C, snapshots_offset at 0x40), the commit point of create and delete.
 * Works on the file directly after flushing the writer; afterwards the image is spent (the
 * caller closes it and reopens the file).
 */
final class Qcow2Snapshots {
    private static final int OFF_NB_SNAPSHOTS = 0x3C;
    private static final int EXTRA_BYTES = 24; // vm state size u64, disk size u64, icount u64 (-1: none)
    private static final int MAX_NAME_BYTES = 0xFFFF;

    private final Qcow2Image img;
    private final Qcow2Writer w;
    private final Refcounts refs;
    private final long cs;

    private Qcow2Snapshots(Qcow2Image img) throws IOException {
        if (img.writer == null) {
            throw new ReadOnlyException("qcow2: " + img.path + " is opened read-only");
        }
        if (img.externalData) {
            throw new UnsupportedFeatureException("qcow2: " + img.path + " has an external data file, which "
                    + "cannot hold internal snapshots (as qemu-img)");
        }
        if (img.header.refcountOrder() == 0) {
            throw new UnsupportedFeatureException("qcow2: " + img.path + " has 1-bit refcounts, which cannot count "
                    + "a cluster shared with a snapshot (as qemu-img)");
        }
        this.img = img;
        this.w = img.writer;
        this.refs = w.refcounts();
        this.cs = img.clusterSize;
    }

    /** {@code qemu-img snapshot -c NAME}: a new snapshot of the active state; returns its id. */
    static String create(Qcow2Image img, String name) throws IOException {
        Qcow2Snapshots s = new Qcow2Snapshots(img);
        return s.locked(() -> s.doCreate(name));
    }

    /** {@code qemu-img snapshot -a ID|NAME}: the active state becomes the snapshot's; returns its id. */
    static String apply(Qcow2Image img, String idOrName) throws IOException {
        Qcow2Snapshots s = new Qcow2Snapshots(img);
        return s.locked(() -> s.doApply(idOrName));
    }

    /** {@code qemu-img snapshot -d ID|NAME}: removes the snapshot and frees what only it held; returns its id. */
    static String delete(Qcow2Image img, String idOrName) throws IOException {
        Qcow2Snapshots s = new Qcow2Snapshots(img);
        return s.locked(() -> s.doDelete(idOrName));
    }

    private interface Op {
        String run() throws IOException;
    }

    private String locked(Op op) throws IOException {
        ReentrantLock lock = w.allocLock();
        lock.lock();
        try {
            w.flush();
            w.prepare();
            String id = op.run(); // sets the dirty bit once its checks have passed
            w.markDirty(false);
            return id;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Compaction (the caller holds the allocation lock and has flushed): each snapshot's L1 table
     * moves into the lowest run of free clusters below it, then the snapshot table (qcow2.txt
     * "Snapshot table entry": l1_table_offset at 0x00 rewritten where its table moved) into the
     * lowest run below it, or, when only L1 tables move and there is no such run, the lowest run
     * inside the file (never past its end; with none, nothing moves).
     * The copies' counts, the copies and the new table are written and forced before the one
     * header write (nb_snapshots, snapshots_offset) that switches to them; the old clusters are
     * released after it. Returns the number of tables moved (L1 copies and the snapshot table).
     */
    static int compactTables(Qcow2Image img) throws IOException {
        if (img.snapshots.isEmpty()) {
            return 0;
        }
        return new Qcow2Snapshots(img).relocate();
    }

    private int relocate() throws IOException {
        int moved = 0;
        long[] newL1 = new long[img.snapshots.size()];
        for (int k = 0; k < newL1.length; k++) {
            Qcow2Snapshot s = img.snapshots.get(k);
            newL1[k] = -1;
            int clusters = (int) ((s.l1Size() * 8 + cs - 1) / cs);
            if (clusters > 0) {
                readL1(s); // checked: aligned, inside the file
                newL1[k] = refs.allocateRunBelow(clusters, s.l1TableOffset());
            }
        }
        Qcow2Snapshot last = img.snapshots.get(img.snapshots.size() - 1);
        long oldAt = img.header.snapshotsOffset();
        long tableBytes = last.entryOffset() + last.entryBytes() - oldAt;
        long tableClusters = (tableBytes + cs - 1) / cs;
        long tableAt = refs.allocateRunBelow((int) tableClusters, oldAt);
        boolean anyL1 = java.util.Arrays.stream(newL1).anyMatch(v -> v >= 0);
        if (tableAt < 0 && anyL1) { // a new table anywhere inside the file; a later round moves it down
            tableAt = refs.allocateRunBelow((int) tableClusters, img.storage().size() & ~(cs - 1));
        }
        if (tableAt < 0) {
            for (int k = 0; k < newL1.length; k++) { // nothing moves: the runs taken are free again
                if (newL1[k] >= 0) {
                    refs.releaseLater(newL1[k], (img.snapshots.get(k).l1Size() * 8 + cs - 1) / cs * cs);
                }
            }
            refs.applyPendingDecrements(host -> { });
            return 0;
        }
        w.markDirty(true);
        refs.writeDirty();
        img.storage().force();
        byte[] table = tableWith(null, null);
        Bytes tb = Bytes.of(table);
        long at = 0;
        for (int k = 0; k < newL1.length; k++) {
            Qcow2Snapshot s = img.snapshots.get(k);
            if (newL1[k] >= 0) {
                long clusters = (s.l1Size() * 8 + cs - 1) / cs;
                writeL1(newL1[k], readL1(s), clusters * cs);
                tb.put64be((int) at, newL1[k]);
                moved++;
            }
            at += s.entryBytes();
        }
        writeTable(table, tableAt, tableClusters); // forced, after the copies (forced each)
        switchHeader(img.snapshots.size(), tableAt);
        for (int k = 0; k < newL1.length; k++) {
            if (newL1[k] >= 0) {
                Qcow2Snapshot s = img.snapshots.get(k);
                refs.releaseLater(s.l1TableOffset(), s.l1Size() * 8);
            }
        }
        releaseOldTable();
        w.markDirty(false);
        // the header and table as now on disk, for the next round and the writer's metadata checks
        ByteBuffer first = ByteBuffer.allocate((int) Math.min(cs, img.storage().size()));
        img.storage().readFully(first, 0, "qcow2", "header cluster");
        img.header = Qcow2Header.parse(Bytes.of(first.array()), img.path);
        img.snapshots = Qcow2Snapshot.readTable(img.storage(), tableAt, img.snapshots.size(), img.storage().size());
        return moved + 1;
    }

    // ---- the three operations ---------------------------------------------------------------

    private String doCreate(String name) throws IOException {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        if (nameBytes.length == 0 || nameBytes.length > MAX_NAME_BYTES) {
            throw new VdException("qcow2: snapshot name must be 1 to " + MAX_NAME_BYTES + " bytes: " + img.path);
        }
        for (Qcow2Snapshot s : img.snapshots) {
            if (s.name().equals(name)) {
                throw new VdException("qcow2: " + img.path + " already has a snapshot named '" + name + "' (id "
                        + s.id() + ")");
            }
        }
        if (img.snapshots.size() >= Qcow2Header.MAX_SNAPSHOTS) {
            throw new UnsupportedFeatureException("qcow2: " + img.path + " already has " + img.snapshots.size()
                    + " snapshots, the most qemu accepts");
        }
        String id = nextId();
        long[] active = img.l1.clone();
        w.markDirty(true);
        // 1. one more reference to everything the active L1 reaches (forced before any new pointer)
        forEachReference(active, "active L1 table", img.l1Offset, this::increment);
        // 2. clusters for the L1 copy and the new table, counted before they are written
        int l1Clusters = (int) ((active.length * 8L + cs - 1) / cs);
        long l1Copy = active.length == 0 ? 0 : allocateRun(l1Clusters);
        byte[] entry = encode(active.length == 0 ? 0 : l1Copy, active.length, id, nameBytes);
        byte[] table = tableWith(entry, null);
        long tableClusters = (table.length + cs - 1) / cs;
        long tableAt = allocateRun((int) tableClusters);
        refs.writeDirty();
        img.storage().force();
        // 3. the active tables lose COPIED (their clusters are shared now): L2 tables, then the L1
        for (int i = 0; i < active.length; i++) {
            long l2 = active[i] & Qcow2Image.OFFSET_MASK;
            if (l2 != 0) {
                setCopiedFlags(l2, false);
            }
        }
        long[] cleared = new long[active.length];
        for (int i = 0; i < active.length; i++) {
            cleared[i] = active[i] & ~Qcow2Image.COPIED;
        }
        writeL1(img.l1Offset, cleared, 0);
        // 4. the copy, the table, then the header
        if (active.length > 0) {
            writeL1(l1Copy, cleared, l1Clusters * cs);
        }
        writeTable(table, tableAt, tableClusters);
        switchHeader(img.snapshots.size() + 1, tableAt);
        releaseOldTable();
        return id;
    }

    private String doDelete(String idOrName) throws IOException {
        Qcow2Snapshot s = find(idOrName);
        long[] l1 = readL1(s);
        String what = "L1 table of snapshot '" + s.name() + "'";
        forEachReference(l1, what, s.l1TableOffset(), (o, n) -> { }); // damaged tables refused before any write
        w.markDirty(true);
        // 1. the new table without the entry, then the header
        byte[] table = tableWith(null, s);
        if (table.length == 0) {
            switchHeader(0, 0);
        } else {
            long tableClusters = (table.length + cs - 1) / cs;
            long tableAt = allocateRun((int) tableClusters);
            refs.writeDirty();
            img.storage().force();
            writeTable(table, tableAt, tableClusters);
            switchHeader(img.snapshots.size() - 1, tableAt);
        }
        // 2. the references are gone: the snapshot's clusters, its L1 table and the old table
        forEachReference(l1, what, s.l1TableOffset(), this::decrement);
        if (l1.length > 0) {
            refs.releaseLater(s.l1TableOffset(), l1.length * 8L);
        }
        releaseOldTable();
        // 3. what is now the active image's alone is COPIED again
        recomputeCopied(img.l1.clone());
        return s.id();
    }

    private String doApply(String idOrName) throws IOException {
        Qcow2Snapshot s = find(idOrName);
        long[] snap = readL1(s);
        long[] old = img.l1.clone();
        String what = "L1 table of snapshot '" + s.name() + "'";
        forEachReference(old, "active L1 table", img.l1Offset, (o, n) -> { }); // damaged tables refused
        forEachReference(snap, what, s.l1TableOffset(), (o, n) -> { });        // before any write
        w.markDirty(true);
        // 1. one more reference to everything the snapshot reaches
        forEachReference(snap, what, s.l1TableOffset(), this::increment);
        refs.writeDirty();
        img.storage().force();
        // 2. the snapshot's table (COPIED clear: everything is shared) in new clusters, as long as the
        //    longer of the two (a snapshot taken before the image shrank has the longer one; qemu's
        //    qcow2_snapshot_goto grows the active table to it)
        long[] next = new long[Math.max(old.length, snap.length)];
        for (int i = 0; i < snap.length; i++) {
            next[i] = snap[i] & ~Qcow2Image.COPIED;
        }
        int l1Clusters = (int) ((next.length * 8L + cs - 1) / cs);
        long l1At = next.length == 0 ? 0 : allocateRun(l1Clusters);
        refs.writeDirty();
        img.storage().force();
        if (next.length > 0) {
            writeL1(l1At, next, l1Clusters * cs);
        }
        // 3. the commit point: size, l1_size and l1_table_offset in one write inside the first sector
        //    (written in place, a table of several sectors could be torn between the two states)
        long size = s.diskSizeBytes() >= 0 ? s.diskSizeBytes() : img.header.virtualSizeBytes();
        Qcow2Resize.writeHeader(img, size, next.length, l1At);
        if (old.length > 0 && img.l1Offset != 0) {
            refs.releaseLater(img.l1Offset, old.length * 8L);
        }
        // 4. the old active state's references (and its table's clusters) are gone
        forEachReference(old, "active L1 table", img.l1Offset, this::decrement);
        refs.applyPendingDecrements(host -> { });
        img.storage().force();
        recomputeCopied(next, l1At);
        return s.id();
    }

    // ---- pieces -----------------------------------------------------------------------------

    /** The snapshot whose id is {@code idOrName}, else the first whose name is (as QEMU matches; {@link SnapshotKey}). */
    private Qcow2Snapshot find(String idOrName) throws VdException {
        java.util.Optional<Qcow2Snapshot> found = SnapshotKey.parse(idOrName).find(img.snapshots, Qcow2Snapshot::id,
                Qcow2Snapshot::name);
        if (found.isPresent()) {
            return found.get();
        }
        throw new VdException("qcow2: " + img.path + " has no snapshot with id or name '" + idOrName + "'");
    }

    /** One more than the largest numeric id (QEMU's find_new_snapshot_id). */
    private String nextId() {
        long max = 0;
        for (Qcow2Snapshot s : img.snapshots) {
            try {
                max = Math.max(max, Long.parseLong(s.id()));
            } catch (NumberFormatException e) {
                // a non-numeric id takes no number
            }
        }
        return Long.toString(max + 1);
    }

    /** A snapshot's L1 table, bounded by the file and by QEMU's limit. */
    private long[] readL1(Qcow2Snapshot s) throws IOException {
        long n = s.l1Size();
        long off = s.l1TableOffset();
        if (n * 8 > Qcow2Header.MAX_L1_BYTES || n > 0 && ((off & (cs - 1)) != 0
                || off + n * 8 > img.storage().size())) {
            throw new CorruptImageException("qcow2", img.path, "snapshot table entry", s.entryOffset(), "L1 table of "
                    + n + " entries at 0x" + Long.toHexString(off) + " is misaligned, too large or past the file end");
        }
        ByteBuffer b = ByteBuffer.allocate((int) n * 8);
        if (n > 0) {
            img.storage().readFully(b, off, "qcow2", "snapshot L1 table");
        }
        Bytes bytes = Bytes.of(b.array());
        long[] l1 = new long[(int) n];
        for (int i = 0; i < n; i++) {
            l1[i] = bytes.u64be(i * 8);
        }
        return l1;
    }

    /** Receives one host range {@code [offset, offset + length)} an L1 table references. */
    private interface RangeSink {
        void accept(long offset, long length) throws IOException;
    }

    /**
     * Visits every host range an L1 table references, streaming (one L2 table in memory): each L2
     * table, then its clusters (a compressed cluster by the 512-byte sectors it occupies), checked
     * against the file first.
     */
    private void forEachReference(long[] l1, String what, long l1Offset, RangeSink sink) throws IOException {
        long end = img.storage().size();
        boolean ext = img.extL2;
        for (int i = 0; i < l1.length; i++) {
            long l2 = l1[i] & Qcow2Image.OFFSET_MASK;
            if (l2 == 0) {
                continue;
            }
            if ((l2 & (cs - 1)) != 0 || l2 + cs > end) {
                throw new CorruptImageException("qcow2", img.path, what, l1Offset + i * 8L, "L2 table offset 0x"
                        + Long.toHexString(l2) + " is misaligned or past the file end");
            }
            Bytes t = Bytes.of(readCluster(l2));
            sink.accept(l2, cs);
            for (int k = 0; k < cs / 8; k += ext ? 2 : 1) {
                long e = t.u64be(k * 8);
                if (img.compressed(e)) {
                    long off = img.compressedOffset(e);
                    long len = img.compressedLength(e);
                    if (off + len > end + 511) {
                        throw new CorruptImageException("qcow2", img.path, "L2 table", l2 + k * 8L, "compressed "
                                + "cluster at 0x" + Long.toHexString(off) + " lies past the file end");
                    }
                    sink.accept(off & ~511L, len + (off & 511));
                } else if ((e & Qcow2Image.OFFSET_MASK) != 0) {
                    long host = e & Qcow2Image.OFFSET_MASK;
                    if ((host & (cs - 1)) != 0 || host >= end) {
                        throw new CorruptImageException("qcow2", img.path, "L2 table", l2 + k * 8L, "data cluster 0x"
                                + Long.toHexString(host) + " is not cluster-aligned or lies past the file end");
                    }
                    sink.accept(host, cs);
                }
            }
        }
    }

    /** One more reference to every cluster of the range; the counts are written as they pile up. */
    private void increment(long offset, long length) throws IOException {
        for (long c = offset & -cs; c < offset + length; c += cs) {
            refs.increment(c);
        }
        if (refs.dirtyBlockCount() > 64) {
            refs.writeDirty(); // raising a count early is always safe
        }
    }

    /** One reference fewer, once no table names the range any more; applied in batches. */
    private void decrement(long offset, long length) throws IOException {
        refs.releaseLater(offset, length);
        if (refs.pendingCount() > 65536) {
            refs.applyPendingDecrements(host -> { });
        }
    }

    /** Contiguous new clusters past the file end (refcount 1 in memory), remembered as the new end. */
    private long allocateRun(int clusters) throws IOException {
        long at = refs.allocateRun(clusters);
        img.noteEnd(at + clusters * cs);
        return at;
    }

    private byte[] readCluster(long off) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) cs);
        img.storage().readFully(b, off, "qcow2", "L2 table");
        return b.array();
    }

    /** Sets (to "refcount is 1") or clears bit 63 of the data entries of the L2 table at {@code l2}. */
    private void setCopiedFlags(long l2, boolean recompute) throws IOException {
        byte[] raw = readCluster(l2);
        Bytes t = Bytes.of(raw);
        boolean changed = false;
        for (int k = 0; k < cs / 8; k += img.extL2 ? 2 : 1) {
            long e = t.u64be(k * 8);
            long want = 0;
            if (recompute && !img.compressed(e) && (e & Qcow2Image.OFFSET_MASK) != 0
                    && refs.get(e & Qcow2Image.OFFSET_MASK) == 1) {
                want = Qcow2Image.COPIED;
            }
            if ((e & Qcow2Image.COPIED) != want && (e != 0 || want != 0)) {
                t.put64be(k * 8, e & ~Qcow2Image.COPIED | want);
                changed = true;
            }
        }
        if (changed) {
            img.storage().write(ByteBuffer.wrap(raw), l2);
        }
    }

    /** After the decrements: COPIED on every active L1 and L2 entry whose cluster has refcount 1. */
    private void recomputeCopied(long[] l1) throws IOException {
        recomputeCopied(l1, img.l1Offset);
    }

    /** As {@link #recomputeCopied(long[])} for the active table at {@code l1At}. */
    private void recomputeCopied(long[] l1, long l1At) throws IOException {
        refs.applyPendingDecrements(host -> { });
        img.storage().force();
        long[] flagged = l1.clone();
        for (int i = 0; i < l1.length; i++) {
            long l2 = l1[i] & Qcow2Image.OFFSET_MASK;
            if (l2 == 0) {
                continue;
            }
            boolean owned = refs.get(l2) == 1;
            setCopiedFlags(l2, true); // a shared table's clusters are shared too: their flags clear
            flagged[i] = l1[i] & ~Qcow2Image.COPIED | (owned ? Qcow2Image.COPIED : 0);
        }
        img.storage().force();
        writeL1(l1At, flagged, 0);
    }

    /** Writes an L1 table (zero-padded to {@code padTo} bytes when larger), forced. */
    private void writeL1(long at, long[] l1, long padTo) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) Math.max(l1.length * 8L, padTo));
        Bytes bytes = Bytes.of(b.array());
        for (int i = 0; i < l1.length; i++) {
            bytes.put64be(i * 8, l1[i]);
        }
        img.storage().write(b, at);
        img.noteEnd(at + b.capacity());
        img.storage().force();
    }

    /** The table as it will be: the current entries (minus {@code drop}) as they are, then {@code add}. */
    private byte[] tableWith(byte[] add, Qcow2Snapshot drop) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (Qcow2Snapshot s : img.snapshots) {
            if (s == drop) {
                continue;
            }
            ByteBuffer b = ByteBuffer.allocate((int) s.entryBytes());
            img.storage().readFully(b, s.entryOffset(), "qcow2", "snapshot table");
            out.write(b.array(), 0, b.capacity());
        }
        if (add != null) {
            out.write(add, 0, add.length);
        }
        return out.toByteArray();
    }

    /** A new entry: no VM state, VM clock 0, the date now, the disk size in the extra data. */
    private byte[] encode(long l1Offset, int l1Size, String id, byte[] name) {
        byte[] idBytes = id.getBytes(StandardCharsets.US_ASCII);
        int len = Qcow2Snapshot.FIXED_SIZE + EXTRA_BYTES + idBytes.length + name.length;
        byte[] e = new byte[(len + 7) & ~7];
        Bytes b = Bytes.of(e);
        Instant now = Instant.now();
        b.put64be(0x00, l1Offset);
        b.put32be(0x08, l1Size);
        b.put16be(0x0C, idBytes.length);
        b.put16be(0x0E, name.length);
        b.put32be(0x10, (int) now.getEpochSecond());
        b.put32be(0x14, now.getNano());
        b.put64be(0x18, 0);
        b.put32be(0x20, 0);
        b.put32be(0x24, EXTRA_BYTES);
        b.put64be(0x28, 0);
        b.put64be(0x30, img.header.virtualSizeBytes());
        b.put64be(0x38, -1L);
        System.arraycopy(idBytes, 0, e, 0x40, idBytes.length);
        System.arraycopy(name, 0, e, 0x40 + idBytes.length, name.length);
        return e;
    }

    private void writeTable(byte[] table, long at, long clusters) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) (clusters * cs));
        b.put(table).clear();
        img.storage().write(b, at);
        img.noteEnd(at + b.capacity());
        img.storage().force();
    }

    /** nb_snapshots and snapshots_offset in one write: the commit point. */
    private void switchHeader(int count, long tableAt) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(12);
        Bytes bytes = Bytes.of(b.array());
        bytes.put32be(0, count);
        bytes.put64be(4, tableAt);
        img.storage().write(b, OFF_NB_SNAPSHOTS);
        img.storage().force();
    }

    /** After the switch: the clusters of the table the header no longer names. */
    private void releaseOldTable() throws IOException {
        if (!img.snapshots.isEmpty()) {
            Qcow2Snapshot last = img.snapshots.get(img.snapshots.size() - 1);
            long start = img.header.snapshotsOffset();
            refs.releaseLater(start, last.entryOffset() + last.entryBytes() - start);
        }
        refs.applyPendingDecrements(host -> { });
        img.storage().force();
    }
}
