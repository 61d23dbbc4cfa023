package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * A new virtual size for a dynamic or differencing VDI (VirtualBox VDI.cpp vdiResize): cbDisk and
 * cBlocks change, and the block map grows. When the map has room before the first data block the
 * new entries are written in place. Otherwise the map moves forward into the space of the first
 * data blocks, as VirtualBox does, in steps that each leave a valid image:
 * <ol>
 * <li>the first N slots (N slots hold the new map) are copied past the last one;</li>
 * <li>the header counts the copies, then the map entries point at them (the first N slots are
 *     now unused: the old layout reads the same);</li>
 * <li>the new map, every slot number lowered by N, is written where those N slots were;</li>
 * <li>one header write (inside the first sector) switches to it: map offset, data offset, size,
 *     block counts.</li>
 * </ol>
 * A kill before the last step leaves the old size with unused slots, which the next writable open
 * gives back ({@link VdiAllocator#reclaimLeakedSlots}). Fixed images are refused (VirtualBox
 * resizes only dynamic ones); shrinking writes the header only.
 */
final class VdiResize {
    private VdiResize() {
    }

    static void resize(VdiImage img, long newSize) throws IOException {
        var storage = img.storage();
        VdiAllocator alloc = img.allocator();
        alloc.flush();
        alloc.beginModification(); // a new uuidModify, as every VirtualBox writing session
        Bytes raw = storage.readPrefix(VdiHeader.SIZE);
        VdiHeader h = VdiHeader.parse(raw);
        if (h.isV0()) {
            throw new UnsupportedFeatureException("resize is not supported by VDI version 0 headers: " + storage.path());
        }
        if (h.imageType() == VdiHeader.TYPE_FIXED) {
            throw new UnsupportedFeatureException("resize is not supported by fixed VDI images: " + storage.path()
                    + " (VirtualBox resizes only dynamic ones; convert it with 'vd convert -O vdi')");
        }
        long bs = h.blockSizeBytes();
        long newBlocks = (newSize + bs - 1) / bs;
        if (newBlocks > VdiHeader.MAX_BLOCKS) {
            throw new UnsupportedFeatureException("vdi: " + newSize + " bytes needs " + newBlocks + " blocks of " + bs
                    + " bytes; at most " + VdiHeader.MAX_BLOCKS + " are supported: " + storage.path());
        }
        VdiBlockMap map = img.blockMap();
        long oldBlocks = h.blockCount();
        if (newBlocks <= oldBlocks) {
            // shrink (or grow inside the last block): keep entries past the end that still name a slot
            long keep = newBlocks;
            for (long b = newBlocks; b < oldBlocks; b++) {
                if (map.get((int) b) != VdiBlockMap.FREE) {
                    keep = b + 1;
                }
            }
            writeHeader(storage, h.resized(h.blockMapOffsetBytes(), h.dataOffsetBytes(), newSize, keep,
                    h.allocatedBlocks()));
            return;
        }
        long mapBytes = 4 * newBlocks;
        if (h.blockMapOffsetBytes() + mapBytes <= h.dataOffsetBytes()) {
            storage.write(freeEntries(newBlocks - oldBlocks), h.blockMapOffsetBytes() + 4 * oldBlocks);
            storage.force();
            writeHeader(storage, h.resized(h.blockMapOffsetBytes(), h.dataOffsetBytes(), newSize, newBlocks,
                    h.allocatedBlocks()));
            return;
        }
        moveMap(img, h, map, newSize, newBlocks);
    }

    private static void moveMap(VdiImage img, VdiHeader h, VdiBlockMap map, long newSize, long newBlocks)
            throws IOException {
        var storage = img.storage();
        long stride = h.strideBytes();
        long oldBlocks = h.blockCount();
        long n = (4 * newBlocks + stride - 1) / stride;       // slots the new map takes
        long a = h.allocatedBlocks();
        long moved = Math.min(n, a);
        long dest = Math.max(a, n);                             // first slot of the copies
        if (dest + moved > 0xFFFF_FFF0L) {
            throw new UnsupportedFeatureException("vdi: " + storage.path() + " has too many slots to move its map");
        }
        // 1. copies of the first slots past the last one
        for (long s = 0; s < moved; s++) {
            copySlot(storage, h, s, dest + s);
        }
        storage.force();
        // 2. the header counts them, then the map points at them
        writeHeader(storage, h.resized(h.blockMapOffsetBytes(), h.dataOffsetBytes(), h.diskSizeBytes(),
                oldBlocks, dest + moved));
        int[] entries = new int[(int) oldBlocks];
        for (int b = 0; b < oldBlocks; b++) {
            int e = map.get(b);
            if (VdiBlockMap.isAllocated(e) && Integer.toUnsignedLong(e) < moved) {
                e = (int) (dest + Integer.toUnsignedLong(e));
                ByteBuffer one = ByteBuffer.allocate(4);
                Bytes.of(one).put32le(0, Integer.toUnsignedLong(e));
                storage.write(one, h.blockMapOffsetBytes() + 4L * b);
            }
            entries[b] = e;
        }
        storage.force();
        // 3. the new map where the first slots were, every slot number lowered by n
        long newMapOffset = h.dataOffsetBytes();
        long newDataOffset = newMapOffset + n * stride;
        ByteBuffer out = ByteBuffer.allocate((int) (n * stride));
        Bytes ob = Bytes.of(out);
        for (int b = 0; b < newBlocks; b++) {
            int e = b < oldBlocks ? entries[b] : VdiBlockMap.FREE;
            if (VdiBlockMap.isAllocated(e)) {
                e = (int) (Integer.toUnsignedLong(e) - n);
            }
            ob.put32le(4 * b, Integer.toUnsignedLong(e));
        }
        storage.write(out, newMapOffset);
        storage.force();
        // 4. the switch
        writeHeader(storage, h.resized(newMapOffset, newDataOffset, newSize, newBlocks, dest + moved - n));
    }

    private static void copySlot(org.vdmount.vd.storage.Storage storage, VdiHeader h, long from, long to)
            throws IOException {
        long stride = h.strideBytes();
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(stride, 1 << 20));
        long src = h.dataOffsetBytes() + from * stride;
        long dst = h.dataOffsetBytes() + to * stride;
        for (long done = 0; done < stride; done += buf.capacity()) {
            buf.clear().limit((int) Math.min(buf.capacity(), stride - done));
            storage.read(buf, src + done);
            while (buf.hasRemaining()) {
                buf.put((byte) 0);
            }
            buf.flip();
            storage.write(buf, dst + done);
        }
    }

    private static ByteBuffer freeEntries(long count) {
        ByteBuffer b = ByteBuffer.allocate((int) (4 * count));
        Bytes bb = Bytes.of(b);
        for (int i = 0; i < count; i++) {
            bb.put32le(4 * i, Integer.toUnsignedLong(VdiBlockMap.FREE));
        }
        return b;
    }

    private static void writeHeader(org.vdmount.vd.storage.Storage storage, VdiHeader h) throws IOException {
        VdiAllocator.writeHeader(storage, h);
        storage.force();
    }
}
