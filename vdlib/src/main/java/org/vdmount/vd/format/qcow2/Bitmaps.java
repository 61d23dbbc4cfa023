package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.storage.Storage;

/**
 * Persistent dirty bitmaps (qcow2.txt "Bitmaps"). This library does not track them, so before its
 * first write it drops them the way the spec allows a bitmap-unaware writer to: the autoclear bit
 * is cleared, and here the extension is also removed and the clusters it used are released, so
 * qemu-img check finds no leaked clusters afterwards.
 */
final class Bitmaps {
    static final long MAX_DIRECTORY_BYTES = 64L << 20;
    private static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

    private Bitmaps() {
    }

    /**
     * Host ranges {offset, length} of the bitmap directory, tables and data clusters, or null if
     * any pointer is out of place (then nothing is released: leaking beats freeing a wrong cluster).
     */
    static List<long[]> ranges(Storage storage, HeaderExtensions ext, long clusterSize) throws IOException {
        long fileSize = storage.size();
        long dirOff = ext.bitmapDirectoryOffset();
        long dirSize = ext.bitmapDirectorySize();
        if (!inFile(dirOff, dirSize, clusterSize, fileSize) || dirSize > MAX_DIRECTORY_BYTES || dirSize < 24) {
            return null;
        }
        ByteBuffer dirBuf = ByteBuffer.allocate((int) dirSize);
        storage.readFully(dirBuf, dirOff, "qcow2", "bitmap directory");
        Bytes dir = Bytes.of(dirBuf.array());
        List<long[]> out = new ArrayList<>();
        out.add(new long[] {dirOff, dirSize});
        int pos = 0;
        for (long i = 0; i < ext.bitmapCount(); i++) {
            if (pos + 24 > dirSize) {
                return null;
            }
            long tableOff = dir.u64be(pos);
            long tableEntries = dir.u32be(pos + 8);
            int nameSize = dir.u16be(pos + 18);
            long extra = dir.u32be(pos + 20);
            if (!inFile(tableOff, tableEntries * 8, clusterSize, fileSize) || extra > dirSize) {
                return null;
            }
            ByteBuffer table = ByteBuffer.allocate((int) (tableEntries * 8));
            storage.readFully(table, tableOff, "qcow2", "bitmap table");
            Bytes t = Bytes.of(table.array());
            for (int k = 0; k < tableEntries; k++) {
                long data = t.u64be(k * 8) & OFFSET_MASK;
                if (data != 0) {
                    if (!inFile(data, clusterSize, clusterSize, fileSize)) {
                        return null;
                    }
                    out.add(new long[] {data, clusterSize});
                }
            }
            if (tableEntries > 0) {
                out.add(new long[] {tableOff, tableEntries * 8});
            }
            pos += (int) ((24 + extra + nameSize + 7) & ~7L);
        }
        return out;
    }

    private static boolean inFile(long off, long len, long clusterSize, long fileSize) {
        return off >= clusterSize && (off & (clusterSize - 1)) == 0 && len >= 0 && off <= fileSize
                && len <= fileSize - off;
    }
}
