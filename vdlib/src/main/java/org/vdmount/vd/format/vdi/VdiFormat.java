package org.vdmount.vd.format.vdi;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.storage.StorageScope;

/**
 * VirtualBox Disk Image (VDI): fixed, dynamic and differencing images (facts from VirtualBox
 * src/VBox/Storage/VDICore.h and VDI.cpp). A differencing image names its parent only by the
 * parent's creation UUID ({@code uuidLinkage}); the chain resolver finds it by scanning for
 * {@code .vdi} files with that UUID.
 *
 * <p>Create options: {@code subformat=dynamic|fixed} (default dynamic) and {@code block_size}
 * (default 1M, a power of two from 128K to 128M; QEMU opens only 1M). The layout follows
 * VirtualBox: block map and data area each start on a 1 MiB boundary.
 */
public final class VdiFormat extends DeclaredFormat {
    static final long MIN_CREATE_BLOCK_SIZE = 128L << 10;
    /** VDI_DATA_ALIGN: VirtualBox aligns the block map and the data area to 1 MiB. */
    static final long DATA_ALIGN = 1L << 20;
    private static final String FILE_INFO = "<<< vdmount Virtual Disk Image >>>\n";

    static final CreateOption SUBFORMAT = CreateOption.choice("subformat", "dynamic",
            "dynamic: blocks allocated on first write; fixed: all blocks allocated now", "dynamic", "fixed");
    static final CreateOption BLOCK_SIZE = CreateOption.size("block_size", "1M",
            "block size, a power of two from 128K to 128M (QEMU and VirtualBox use 1M)");
    /** qemu-img's spelling of subformat=fixed (block/vdi.c "static"). */
    static final CreateOption STATIC = CreateOption.flag("static", "on: the same as subformat=fixed (qemu-img's name)");

    public VdiFormat() {
        super("vdi", List.of("vdi"),
                reads(WRITE, CREATE, CREATE_FIXED, DIFFERENCING, DISCARD, ZERO_BLOCKS, RESIZE),
                List.of(SUBFORMAT, BLOCK_SIZE, STATIC));
    }

    @Override
    public int probe(ProbeInput in) {
        if (in.directory() || in.head().size() < VdiHeader.PRE_HEADER_SIZE
                || in.head().u32le(0x40) != VdiHeader.SIGNATURE) {
            return 0;
        }
        long version = in.head().u32le(0x44);
        return version == VdiHeader.VERSION_0 || version >>> 16 == 1 ? 100 : 60;
    }

    /** Block map entries against the block count, the file and each other; the allocated-block count. */
    @Override
    public java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.of(new VdiCheck());
    }

    /** Dynamic and differencing images: zero (or parent-equal) blocks freed, slots packed, file cut. */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new VdiCompact());
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return StorageScope.open(path, options, storage -> VdiImage.open(this, storage, options));
    }

    /** Grows the block map (in place, or moved over the first data blocks); see {@link VdiResize}. */
    @Override
    public void resize(Image image, long newSize) throws IOException {
        VdiResize.resize((VdiImage) image, newSize);
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        String sub = options.get(SUBFORMAT);
        long blockSize = options.size(BLOCK_SIZE);
        if (Long.bitCount(blockSize) != 1 || blockSize < MIN_CREATE_BLOCK_SIZE || blockSize > VdiHeader.MAX_BLOCK_SIZE) {
            throw new UnsupportedFeatureException("vdi: block_size " + blockSize + " must be a power of two from "
                    + MIN_CREATE_BLOCK_SIZE + " to " + VdiHeader.MAX_BLOCK_SIZE);
        }
        Disk parentDisk = options.parent();
        if (options.flag(STATIC) && options.has(SUBFORMAT) && !sub.equals("fixed")) {
            throw new UnsupportedFeatureException("vdi: static=on and subformat=" + sub + " disagree");
        }
        boolean fixed = sub.equals("fixed") || options.flag(STATIC);
        long size = options.virtualSize();
        UUID linkage = VdiHeader.nullUuid();
        UUID parentModify = VdiHeader.nullUuid();
        if (parentDisk != null) {
            if (fixed) {
                throw new UnsupportedFeatureException("vdi: a differencing image is always dynamic");
            }
            Image top = parentDisk.top();
            linkage = top.linkUuid();
            if (linkage == null) {
                throw new UnsupportedFeatureException("vdi: parent " + top.storage().path() + " (" + top.format().name()
                        + ") has no UUID a VDI differencing image could link to");
            }
            if (top instanceof VdiImage v) {
                parentModify = v.modificationUuid();
            }
            if (size == 0) {
                size = (parentDisk.size() + 511) & ~511L;
            }
        }
        if (size <= 0 || size % 512 != 0) {
            throw new UnsupportedFeatureException("vdi: virtual size " + size + " must be a positive multiple of 512");
        }
        long blocks = (size + blockSize - 1) / blockSize;
        if (blocks > VdiHeader.MAX_BLOCKS) {
            throw new UnsupportedFeatureException("vdi: " + blocks + " blocks of " + blockSize + " bytes exceed the limit of "
                    + VdiHeader.MAX_BLOCKS + "; use a larger block_size");
        }
        long mapOffset = align(VdiHeader.SIZE, DATA_ALIGN);
        long dataOffset = align(mapOffset + 4 * blocks, DATA_ALIGN);
        byte[] info = new byte[VdiHeader.FILE_INFO_SIZE];
        byte[] text = FILE_INFO.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(text, 0, info, 0, text.length);
        VdiHeader h = new VdiHeader(info, VdiHeader.SIGNATURE, VdiHeader.VERSION_1_1, VdiHeader.V1_PLUS_SIZE,
                parentDisk != null ? VdiHeader.TYPE_DIFF : fixed ? VdiHeader.TYPE_FIXED : VdiHeader.TYPE_NORMAL, 0,
                new byte[VdiHeader.COMMENT_SIZE], mapOffset, dataOffset, VdiHeader.Geometry.unset(), 0, size,
                blockSize, 0, blocks, fixed ? blocks : 0, UUID.randomUUID(), UUID.randomUUID(), linkage,
                parentModify, VdiHeader.Geometry.unset());
        VdiBlockMap map = VdiBlockMap.fresh((int) blocks, fixed);

        return StorageScope.create(path, fs -> {
            writeMap(fs, map, mapOffset);
            fs.truncate(fixed ? dataOffset + blocks * blockSize : dataOffset);
            Bytes hb = Bytes.allocate(VdiHeader.SIZE);
            h.write(hb);
            fs.write(hb.buffer(), 0);
            fs.force();
            return VdiImage.created(this, fs, h, map);
        });
    }

    private static void writeMap(Storage fs, VdiBlockMap map, long mapOffset) throws IOException {
        int perChunk = 1 << 18;
        ByteBuffer buf = ByteBuffer.allocate(4 * Math.min(perChunk, map.length()));
        Bytes b = Bytes.of(buf.array());
        for (int first = 0; first < map.length(); first += perChunk) {
            int n = Math.min(perChunk, map.length() - first);
            for (int i = 0; i < n; i++) {
                b.put32le(4 * i, Integer.toUnsignedLong(map.get(first + i)));
            }
            buf.clear().limit(4 * n);
            fs.write(buf, mapOffset + 4L * first);
        }
    }

    private static long align(long value, long alignment) {
        return (value + alignment - 1) / alignment * alignment;
    }
}
