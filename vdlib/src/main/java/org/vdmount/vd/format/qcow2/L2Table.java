package org.vdmount.vd.format.qcow2;

import java.nio.ByteBuffer;
import java.util.concurrent.locks.StampedLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.table.Tables;

/**
 * One cached L2 table (one cluster of big-endian u64 words; with extended L2 entries, word 2i is
 * the descriptor of cluster i and word 2i+1 its subcluster bitmap). Readers take no lock: single
 * words are read with acquire semantics and word pairs are validated against a {@link StampedLock}
 * that writers hold while they change a pair.
 */
final class L2Table {
    final long hostOffset;
    private final long[] words;
    private final StampedLock lock = new StampedLock();

    L2Table(long hostOffset, int wordCount) {
        this.hostOffset = hostOffset;
        this.words = new long[wordCount];
    }

    /** Decodes a table read from the file ({@code raw} positioned at its start). */
    static L2Table parse(long hostOffset, ByteBuffer raw, int wordCount) {
        L2Table t = new L2Table(hostOffset, wordCount);
        Bytes b = Bytes.of(raw);
        for (int i = 0; i < wordCount; i++) {
            t.words[i] = b.u64be(i * 8);
        }
        return t;
    }

    /**
     * A table (one cluster) at {@code hostOffset} that the cut of a file opened with allowTruncated
     * has taken: what it mapped is unknown, so every cluster (every subcluster of an extended
     * table) counts as allocated in the cluster after the table, beyond the end of the file: it
     * reads as zeros and is listed as missing.
     */
    static L2Table lost(long hostOffset, int wordCount, boolean extended) {
        L2Table t = new L2Table(hostOffset, wordCount);
        long past = hostOffset + 8L * wordCount;
        for (int i = 0; i < wordCount; i++) {
            t.words[i] = extended && i % 2 == 1 ? 0xFFFF_FFFFL : past; // bitmap: 32 subclusters allocated
        }
        return t;
    }

    int wordCount() {
        return words.length;
    }

    long word(int i) {
        return Tables.get(words, i);
    }

    /** An extended L2 entry: the cluster descriptor and its subcluster bitmap, read together. */
    record Extended(long descriptor, long bitmap) {
    }

    /**
     * Extended entry {@code i} (words 2i and 2i+1) as one consistent pair: retries while a writer
     * is changing it (writers do no I/O under the pair's lock).
     */
    Extended extended(int i) {
        while (true) {
            long stamp = lock.tryOptimisticRead();
            long descriptor = word(2 * i);
            long bitmap = word(2 * i + 1);
            if (stamp != 0 && lock.validate(stamp)) {
                return new Extended(descriptor, bitmap);
            }
            Thread.onSpinWait();
        }
    }

    /** Sets one word, or (for extended L2) a descriptor and bitmap together. */
    void set(int i, long value) {
        long stamp = lock.writeLock();
        try {
            Tables.set(words, i, value);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    void setPair(int i, long descriptor, long bitmap) {
        long stamp = lock.writeLock();
        try {
            Tables.set(words, i, descriptor);
            Tables.set(words, i + 1, bitmap);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** Big-endian bytes of the whole table into {@code dst} (position 0, capacity >= 8 * words). */
    void encode(ByteBuffer dst) {
        Bytes b = Bytes.of(dst);
        for (int i = 0; i < words.length; i++) {
            b.put64be(i * 8, word(i));
        }
    }

    /** A copy of this table to live at another host offset (copy-on-write of a shared table). */
    L2Table copyAt(long newOffset) {
        L2Table t = new L2Table(newOffset, words.length);
        for (int i = 0; i < words.length; i++) {
            t.words[i] = word(i);
        }
        return t;
    }
}
