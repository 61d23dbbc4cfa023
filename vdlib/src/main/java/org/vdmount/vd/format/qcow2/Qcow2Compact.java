package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;
import org.vdmount.vd.compact.Verdict;

/**
 * {@code vd compact} of a qcow2 image (qcow2.txt "Cluster mapping", "Host cluster management"),
 * in three steps, each ordered by {@link Qcow2Writer#flush} (data, refcount increments, tables,
 * decrements; the dirty bit brackets the refcount updates, so a crash leaks at worst):
 * <ol>
 * <li>every standard data cluster that is all zeros (no backing file) or equals the backing
 *     chain gets L2 entry 0; one of zeros over a non-zero backing chain gets the zero flag
 *     (version 3); a preallocated zero cluster gives its host cluster up the same way. Refcounts
 *     drop after the tables are written.</li>
 * <li>from the end of the file down, data clusters, L2 tables (refcount 1) and refcount structures move into
 *     the lowest free host clusters (copy, then the L2 or L1 entry, then the old cluster's
 *     release), while a free cluster lies below them. Compressed clusters no snapshot shares
 *     (qcow2.txt "Compressed Clusters Descriptor") are packed, 512-byte aligned, into free host
 *     clusters below them, several to a host cluster, whose refcount counts its users.</li>
 * <li>the tables that need a run of clusters: the active L1 table ({@link Qcow2Writer#switchL1},
 *     shared with resize), then each snapshot's L1 table and the snapshot table
 *     ({@link Qcow2Snapshots#compactTables}): each copied into the lowest free run below it,
 *     forced, the header switched in one forced write, the old clusters released. While any moves,
 *     step 2 runs again for what lay behind them, then step 3.</li>
 * <li>after a flush, the file is cut after the last cluster whose refcount is not 0.</li>
 * </ol>
 * Refcount blocks and the refcount table move too (a repaired image has them at its end).
 * Clusters shared with internal snapshots (refcount above 1) and L2 tables only snapshots
 * reach stay where they are. Images with extended L2 entries or an external data file are refused.
 */
final class Qcow2Compact implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        Qcow2Image img = (Qcow2Image) image;
        if (img.writer == null) {
            throw new IllegalArgumentException("qcow2: " + img.path + " is open read-only");
        }
        if (img.extL2) {
            throw new UnsupportedFeatureException("qcow2: compact of " + img.path + " is not supported: it has "
                    + "extended L2 entries (subclusters)");
        }
        if (Qcow2Encryption.encrypted(img.dataStorage)) {
            // moving a data cluster changes its IV (the host sector): not done here
            throw new UnsupportedFeatureException("qcow2: compact of " + img.path + " is not supported: it is "
                    + "encrypted (LUKS)");
        }
        if (img.externalData) {
            throw new UnsupportedFeatureException("qcow2: compact of " + img.path + " is not supported: its data "
                    + "is in an external data file");
        }
        Qcow2Moves w = new Qcow2Moves(img);
        long[] counts = release(img, w, parent, progress);
        w.flush();
        long moved = pack(img, w);
        // each table only ever moves down, so this ends; what the tables left behind fills their old place
        for (long tables = moveTables(img, w); tables > 0; tables = moveTables(img, w)) {
            moved += tables + pack(img, w);
        }
        w.truncateUnused();
        return CompactResult.counts(img.clusterSize, counts[0], counts[1], moved);
    }

    /** Step 1; returns {freed, zeroed}. */
    private static long[] release(Qcow2Image img, Qcow2Moves w, Disk parent, LongConsumer progress)
            throws IOException {
        boolean zeroFlag = img.header.version() >= 3;
        int words = img.l2Words();
        ByteBuffer data = ByteBuffer.allocate((int) img.clusterSize);
        ByteBuffer scratch = ByteBuffer.allocate((int) img.clusterSize);
        long freed = 0;
        long zeroed = 0;
        for (int l1i = 0; l1i < img.l1.length; l1i++) {
            long first = (long) l1i * words * img.clusterSize;
            if (first >= img.virtualSize()) {
                break;
            }
            L2Table t = img.l2For(l1i);
            if (t == null) {
                progress.accept(Math.min(img.virtualSize(), first + words * img.clusterSize));
                continue;
            }
            for (int i = 0; i < words; i++) {
                long off = first + i * img.clusterSize;
                if (off >= img.virtualSize()) {
                    break;
                }
                long e = img.l2For(l1i).word(i); // the table object changes when it is first copied
                if (!img.compressed(e) && !img.hasHost(e)) {
                    continue;
                }
                Verdict v;
                if (!img.compressed(e) && (e & Qcow2Image.ZERO_FLAG) != 0) {
                    v = parent == null ? Verdict.UNALLOCATED : Verdict.ZERO; // preallocated zeros
                } else {
                    data.clear().limit((int) Math.min(img.clusterSize, img.virtualSize() - off));
                    img.readData(off, data);
                    data.flip();
                    v = Verdict.of(data, off, parent, scratch);
                }
                if (v == Verdict.UNALLOCATED && w.releaseCluster(off, false)) {
                    freed++;
                } else if (v == Verdict.ZERO && zeroFlag && w.releaseCluster(off, true)) {
                    zeroed++;
                }
            }
            progress.accept(Math.min(img.virtualSize(), first + words * img.clusterSize));
        }
        return new long[] {freed, zeroed};
    }

    /**
     * A movable cluster at {@code host}: a data cluster (its guest offset), an L2 table (its L1
     * index), a refcount block (its table index) or the refcount table ({@code refBlock} -2).
     */
    private record Movable(long host, long guestOffset, int l1Index, int refBlock, boolean compressed) {
        Movable(long host, long guestOffset, int l1Index, int refBlock) {
            this(host, guestOffset, l1Index, refBlock, false);
        }

        static Movable data(long host, long guestOffset) {
            return new Movable(host, guestOffset, -1, -1);
        }
    }

    /** Step 3: the active L1 table, then the snapshots' L1 tables and table; returns how many moved. */
    private static long moveTables(Qcow2Image img, Qcow2Moves w) throws IOException {
        ReentrantLock lock = w.allocLock();
        lock.lock();
        try {
            long moved = w.moveL1() >= 0 ? 1 : 0;
            w.flush();
            return moved + Qcow2Snapshots.compactTables(img);
        } finally {
            lock.unlock();
        }
    }

    /** Step 2; returns the number of clusters moved. */
    private static long pack(Qcow2Image img, Qcow2Moves w) throws IOException {
        List<Movable> all = new ArrayList<>();
        List<Movable> compressed = new ArrayList<>();
        Map<Long, Integer> users = new HashMap<>(); // host cluster -> compressed entries of the active L1 in it
        int words = img.l2Words();
        for (int l1i = 0; l1i < img.l1.length; l1i++) {
            L2Table t = img.l2For(l1i);
            if (t == null) {
                continue;
            }
            if (w.refcount(t.hostOffset) == 1) {
                all.add(new Movable(t.hostOffset, -1, l1i, -1));
            }
            for (int i = 0; i < words; i++) {
                long e = t.word(i);
                long off = ((long) l1i * words + i) * img.clusterSize;
                if (off < img.virtualSize() && img.compressed(e)) {
                    long from = img.compressedOffset(e);
                    for (long c : touched(img, e)) {
                        users.merge(c, 1, Integer::sum);
                    }
                    if (w.refcount(t.hostOffset) == 1) {
                        compressed.add(new Movable(from, off, -1, -1, true));
                    }
                    continue;
                }
                if (off >= img.virtualSize() || img.compressed(e) || !img.hasHost(e)
                        || (e & Qcow2Image.ZERO_FLAG) != 0) {
                    continue;
                }
                long host = img.checkedHost(e, t);
                if (w.refcount(host) == 1) {
                    all.add(Movable.data(host, off));
                }
            }
        }
        for (Movable m : compressed) {
            long e = img.l2For(img.l1Index(m.guestOffset())).word(img.l2Index(m.guestOffset()));
            boolean own = true; // no snapshot holds its sectors: each host cluster's count is its users here
            for (long c : touched(img, e)) {
                own &= w.refcount(c) == users.get(c);
            }
            if (own) {
                all.add(m);
            }
        }
        long[] refs = w.refcountStructure();
        for (int bi = 0; bi < refs.length; bi++) {
            if (refs[bi] != 0) {
                all.add(new Movable(refs[bi], -1, -1, bi == refs.length - 1 ? -2 : bi));
            }
        }
        all.sort(Comparator.comparingLong(Movable::host).reversed());
        long moved = 0;
        long[] pack = {-1, 0}; // the host cluster compressed clusters are packed into, its next free byte
        for (Movable m : all) {
            long to;
            if (m.compressed()) {
                if (w.moveCompressed(m.guestOffset(), m.host(), pack) < 0) {
                    continue; // too long to share a host cluster, or no room below; a lower one may fit
                }
            } else if (m.refBlock() == -2) {
                to = w.moveRefcounts(-1);
                if (to < 0) {
                    continue; // the table needs a run of free clusters; single ones may still be free below
                }
            } else {
                to = m.refBlock() >= 0 ? w.moveRefcounts(m.refBlock())
                        : m.l1Index() >= 0 ? w.moveL2(m.l1Index()) : w.moveCluster(m.guestOffset(), m.host());
                if (to < 0) {
                    break; // nothing free below this cluster, so nothing below any lower one either
                }
            }
            moved++;
        }
        w.flush();
        return moved;
    }

    /** The host clusters the sectors of compressed entry {@code e} touch. */
    private static long[] touched(Qcow2Image img, long e) {
        long first = img.compressedOffset(e) & ~(img.clusterSize - 1);
        long last = (img.compressedOffset(e) + img.compressedLength(e) - 1) & ~(img.clusterSize - 1);
        long[] c = new long[(int) ((last - first) / img.clusterSize + 1)];
        for (int k = 0; k < c.length; k++) {
            c[k] = first + k * img.clusterSize;
        }
        return c;
    }
}
