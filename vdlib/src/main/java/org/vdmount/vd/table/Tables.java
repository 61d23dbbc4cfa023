package org.vdmount.vd.table;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.storage.Storage;

/**
 * Table words shared by lock-free readers and a writer (acquire reads, release writes), and tables
 * of fixed-size entries read from a file. The byte order is always named by the caller: QCOW and
 * qcow2 tables are big-endian, QED and VMDK ones little-endian.
 */
public final class Tables {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle INTS = MethodHandles.arrayElementVarHandle(int[].class);

    private Tables() {
    }

    public static long get(long[] t, int i) {
        return (long) LONGS.getAcquire(t, i);
    }

    public static void set(long[] t, int i, long v) {
        LONGS.setRelease(t, i, v);
    }

    public static int get(int[] t, int i) {
        return (int) INTS.getAcquire(t, i);
    }

    public static void set(int[] t, int i, int v) {
        INTS.setRelease(t, i, v);
    }

    /** {@code count} u64 entries at {@code pos} (the caller bounds {@code count}). */
    public static long[] readU64s(Storage storage, long pos, int count, ByteOrder order, String format,
                                  String structure) throws IOException {
        Bytes b = read(storage, pos, count * 8, format, structure);
        boolean big = order == ByteOrder.BIG_ENDIAN;
        long[] t = new long[count];
        for (int i = 0; i < count; i++) {
            t[i] = big ? b.u64be(i * 8) : b.u64le(i * 8);
        }
        return t;
    }

    /** {@code count} little-endian 32-bit entries at {@code pos}, as stored (unsigned values wrap). */
    public static int[] readU32les(Storage storage, long pos, int count, String format, String structure)
            throws IOException {
        Bytes b = read(storage, pos, count * 4, format, structure);
        int[] t = new int[count];
        for (int i = 0; i < count; i++) {
            t[i] = b.s32le(i * 4);
        }
        return t;
    }

    private static Bytes read(Storage storage, long pos, int bytes, String format, String structure)
            throws IOException {
        ByteBuffer raw = ByteBuffer.allocate(bytes);
        storage.readFully(raw, pos, format, structure);
        return Bytes.of(raw.array());
    }
}
