package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.StorageScope;

/**
 * Writes new fixed, dynamic and differencing images. Layout of dynamic ones (as QEMU and Hyper-V
 * lay them out): footer copy at 0, dynamic header at 0x200, BAT at 0x600 (all entries unused),
 * then the parent locators' data, then the footer.
 *
 * <p>The creator application is "win " (Hyper-V / Windows disk management): every reader, QEMU old
 * and new included, then takes the footer's current size as the virtual size, so the size asked
 * for is the size everyone sees. The CHS geometry is still filled in per the specification.
 */
final class VhdCreator {
    static final long MIN_BLOCK_SIZE = 4096;
    static final long MAX_CREATE_BLOCK_SIZE = 256L << 20;
    /** 2040 GiB: the specification's limit, and the largest size QEMU opens. */
    static final long MAX_SIZE = 0xFF00_0000L * VhdGeometry.SECTOR;
    static final long VHD_EPOCH_SECONDS = 946_684_800L;
    static final String CREATOR_APP = "win ";
    static final long CREATOR_VERSION = 0x000A_0000L;
    static final String CREATOR_OS = "Wi2k";
    static final long FORMAT_VERSION = 0x0001_0000L;
    static final long FEATURES_RESERVED = 2;
    static final long HEADER_OFFSET = VhdFooter.SIZE;
    static final long BAT_OFFSET = HEADER_OFFSET + VhdDynamicHeader.SIZE;
    private static final int FILL_CHUNK = 64 * 1024;

    private VhdCreator() {
    }

    static void create(Path path, CreateOptions o) throws IOException {
        Disk parent = o.parent();
        String sub = o.get(VhdFormat.SUBFORMAT);
        boolean fixed = sub.equals("fixed");
        if (fixed && parent != null) {
            throw new UnsupportedFeatureException("vhd: a fixed image cannot have a backing file (use subformat=dynamic)");
        }
        if (fixed && o.has(VhdFormat.BLOCK_SIZE)) {
            throw new UnsupportedFeatureException("vhd: block_size applies to dynamic and differencing images only");
        }
        long requested = o.virtualSize() == 0 && parent != null ? parent.size() : o.virtualSize();
        if (requested <= 0) {
            throw new UnsupportedFeatureException("vhd: the virtual size must be greater than 0");
        }
        long asked = (requested + VhdGeometry.SECTOR - 1) & -VhdGeometry.SECTOR;
        long size = o.flag(VhdFormat.FORCE_SIZE) ? asked : chsRounded(asked);
        if (size > MAX_SIZE) {
            throw new UnsupportedFeatureException("vhd: size " + size + " exceeds the VHD limit of 2040 GiB ("
                    + MAX_SIZE + " bytes)");
        }
        long bs = o.size(VhdFormat.BLOCK_SIZE);
        if (Long.bitCount(bs) != 1 || bs < MIN_BLOCK_SIZE || bs > MAX_CREATE_BLOCK_SIZE) {
            throw new UnsupportedFeatureException("vhd: block_size " + bs + " must be a power of two from "
                    + MIN_BLOCK_SIZE + " to " + MAX_CREATE_BLOCK_SIZE);
        }
        long type = fixed ? VhdFooter.TYPE_FIXED : parent != null ? VhdFooter.TYPE_DIFFERENCING : VhdFooter.TYPE_DYNAMIC;
        long chs = VhdGeometry.chsFor(size / VhdGeometry.SECTOR);
        VhdFooter footer = new VhdFooter(FEATURES_RESERVED, FORMAT_VERSION,
                fixed ? VhdFooter.NO_DATA_OFFSET : HEADER_OFFSET, vhdTime(Instant.now()),
                CREATOR_APP, CREATOR_VERSION, CREATOR_OS, size, size,
                VhdGeometry.cylinders(chs), VhdGeometry.heads(chs), VhdGeometry.sectorsPerTrack(chs),
                type, 0, UUID.randomUUID(), 0);
        StorageScope.write(path, st -> {
            if (fixed) {
                st.truncate(size); // the whole data area exists; sparse on the host, as qemu-img makes it
                st.write(footer.encode().buffer(), size);
            } else {
                writeDynamic(st, path, footer, size, bs, o);
            }
        });
    }

    /**
     * {@code size} rounded up to the next whole CHS geometry (qemu's calculate_rounded_image_size
     * without force_size: the sector count grows until the spec's geometry for it holds it all);
     * a size that reaches the largest geometry (65535/16/255) stays as it is.
     */
    private static long chsRounded(long size) {
        long sectors = Math.min(VhdGeometry.MAX_CHS_SECTORS, size / VhdGeometry.SECTOR);
        long chs = VhdGeometry.chsFor(sectors);
        for (long i = 1; sectors > product(chs); i++) {
            chs = VhdGeometry.chsFor(sectors + i);
        }
        return product(chs) == VhdGeometry.MAX_CHS_SECTORS ? size : product(chs) * VhdGeometry.SECTOR;
    }

    private static long product(long chs) {
        return (long) VhdGeometry.cylinders(chs) * VhdGeometry.heads(chs) * VhdGeometry.sectorsPerTrack(chs);
    }

    private static void writeDynamic(FileStorage st, Path path, VhdFooter footer, long size, long bs,
                                     CreateOptions o) throws IOException {
        long entries = (size + bs - 1) / bs;
        long batBytes = (entries * 4 + VhdGeometry.SECTOR - 1) & -VhdGeometry.SECTOR;
        long pos = BAT_OFFSET + batBytes;
        List<VhdParentLocator> locators = new ArrayList<>();
        List<byte[]> locatorData = new ArrayList<>();
        UUID parentUuid = new UUID(0, 0);
        String parentName = "";
        long parentTime = 0;
        if (o.parent() != null) {
            VhdParentLink link = VhdParentLink.of(path, o.parentPath(), o.parent().top());
            parentUuid = link.uuid();
            parentName = link.name();
            parentTime = link.timestamp();
            for (String[] p : link.locatorPaths()) {
                byte[] data = p[1].getBytes(StandardCharsets.UTF_16LE);
                long space = VhdParentLink.space(data);
                locators.add(new VhdParentLocator(p[0], space, data.length, pos));
                locatorData.add(data);
                pos += space;
            }
        }
        while (locators.size() < VhdDynamicHeader.LOCATOR_COUNT) {
            locators.add(new VhdParentLocator("\0\0\0\0", 0, 0, 0));
        }
        VhdDynamicHeader header = new VhdDynamicHeader(-1L, BAT_OFFSET, FORMAT_VERSION, entries, bs, 0,
                parentUuid, parentTime, parentName, locators);

        Bytes fb = footer.encode();
        st.write(fb.buffer().duplicate().clear(), 0);
        st.write(header.encode().buffer(), HEADER_OFFSET);
        byte[] ones = new byte[(int) Math.min(FILL_CHUNK, batBytes)];
        Arrays.fill(ones, (byte) 0xFF);
        for (long off = 0; off < batBytes; off += ones.length) {
            st.write(ByteBuffer.wrap(ones, 0, (int) Math.min(ones.length, batBytes - off)), BAT_OFFSET + off);
        }
        for (int i = 0; i < locatorData.size(); i++) {
            st.write(ByteBuffer.wrap(locatorData.get(i)), locators.get(i).dataOffsetBytes());
        }
        st.write(fb.buffer().duplicate().clear(), pos);
    }

    /** Seconds since 2000-01-01 00:00 UTC, clamped to an unsigned 32-bit field. */
    static long vhdTime(Instant t) {
        return Math.max(0, Math.min(0xFFFF_FFFFL, t.getEpochSecond() - VHD_EPOCH_SECONDS));
    }
}
