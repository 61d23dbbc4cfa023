package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.storage.Storage;

/**
 * One entry of the internal snapshot table (qcow2.txt "Snapshots"), variable length, padded to 8.
 *
 * @param diskSizeBytes the snapshot's virtual size from the extra data, or -1 if not recorded
 */
record Qcow2Snapshot(
        long l1TableOffset,   // 0x00 u64
        long l1Size,          // 0x08 u32
        // 0x0C u16 id length, 0x0E u16 name length
        long dateSeconds,     // 0x10 u32
        long dateNanos,       // 0x14 u32
        long vmClockNanos,    // 0x18 u64
        long vmStateBytes,    // 0x20 u32, or the u64 at extra 0x28 if present
        // 0x24 u32 extra data size; extra: 0x28 u64 vm state size, 0x30 u64 disk size
        long diskSizeBytes,
        String id,
        String name,
        long entryOffset,
        long entryBytes) {   // this entry's size in the table, padded to 8

    static final int FIXED_SIZE = 40;
    static final int MAX_EXTRA = 1024;

    /** Reads {@code count} entries starting at {@code offset}, every one bounded by the file. */
    static List<Qcow2Snapshot> readTable(Storage storage, long offset, long count, long fileSize)
            throws IOException {
        List<Qcow2Snapshot> out = new ArrayList<>();
        long pos = offset;
        ByteBuffer fixed = ByteBuffer.allocate(FIXED_SIZE);
        for (long i = 0; i < count; i++) {
            if (pos + FIXED_SIZE > fileSize) {
                throw new org.vdmount.vd.TruncatedImageException("qcow2", storage.path(), "snapshot table entry " + i,
                        pos, FIXED_SIZE, fileSize);
            }
            fixed.clear();
            storage.readFully(fixed, pos, "qcow2", "snapshot table");
            Bytes b = Bytes.of(fixed.array());
            int idLen = b.u16be(0x0C);
            int nameLen = b.u16be(0x0E);
            long extra = b.u32be(0x24);
            if (extra > MAX_EXTRA) {
                throw new CorruptImageException("qcow2", storage.path(), "snapshot table entry " + i, pos,
                        "extra data size " + extra + " > " + MAX_EXTRA);
            }
            int rest = (int) extra + idLen + nameLen;
            if (pos + FIXED_SIZE + rest > fileSize) {
                throw new org.vdmount.vd.TruncatedImageException("qcow2", storage.path(), "snapshot table entry " + i,
                        pos, FIXED_SIZE + rest, fileSize);
            }
            ByteBuffer var = ByteBuffer.allocate(rest);
            storage.readFully(var, pos + FIXED_SIZE, "qcow2", "snapshot table");
            Bytes v = Bytes.of(var.array());
            long vmState = b.u32be(0x20);
            long diskSize = -1;
            if (extra >= 8) {
                vmState = v.u64be(0);
            }
            if (extra >= 16) {
                diskSize = v.u64be(8);
            }
            String id = new String(v.bytes((int) extra, idLen), StandardCharsets.UTF_8);
            String name = new String(v.bytes((int) extra + idLen, nameLen), StandardCharsets.UTF_8);
            long bytes = (FIXED_SIZE + rest + 7) & ~7L;
            out.add(new Qcow2Snapshot(b.u64be(0), b.u32be(0x08), b.u32be(0x10), b.u32be(0x14), b.u64be(0x18),
                    vmState, diskSize, id, name, pos, bytes));
            pos += bytes;
        }
        return out;
    }

    /** What {@code vd info} shows for this snapshot. */
    Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("name", name);
        m.put("date", Instant.ofEpochSecond(dateSeconds, Math.min(dateNanos, 999_999_999L)).toString());
        m.put("vm_clock_ns", vmClockNanos);
        m.put("vm_state_bytes", vmStateBytes);
        if (diskSizeBytes >= 0) {
            m.put("disk_size_bytes", diskSizeBytes);
        }
        return m;
    }
}
