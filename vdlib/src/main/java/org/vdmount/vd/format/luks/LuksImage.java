package org.vdmount.vd.format.luks;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.crypto.CryptRegion;
import org.vdmount.vd.crypto.LuksHeader;
import org.vdmount.vd.crypto.LuksKeyslot;
import org.vdmount.vd.crypto.SectorCipher;
import org.vdmount.vd.format.common.ImageBase;
import org.vdmount.vd.storage.Storage;

/**
 * An unlocked raw LUKS volume: every byte is DATA (the file does not say which sectors were ever
 * written; unwritten ones decrypt to noise, as with qemu and dm-crypt), read and written through
 * the {@link CryptRegion} filter. Discard writes encrypted zeros: a hole would read as noise.
 */
final class LuksImage extends ImageBase {
    private static final long BLOCK = 1 << 20;

    private final LuksHeader header;
    private final SectorCipher cipher;
    private final CryptRegion region;

    LuksImage(ImageFormat format, Storage storage, LuksHeader header, SectorCipher cipher) throws IOException {
        super(format, storage, storage.readOnly(), payloadSize(storage, header), BLOCK);
        this.header = header;
        this.cipher = cipher;
        this.region = new CryptRegion(storage, header.segment().offset(), header.segment().sectorSize(),
                header.segment().ivTweak(), cipher);
    }

    private static long payloadSize(Storage storage, LuksHeader header) throws IOException {
        long size = header.segment().size() >= 0 ? header.segment().size()
                : Math.max(0, storage.size() - header.segment().offset());
        return size / header.segment().sectorSize() * header.segment().sectorSize();
    }

    @Override
    public String variant() {
        return "luks" + header.version();
    }

    @Override
    public int logicalSectorSize() {
        return header.segment().sectorSize();
    }

    @Override
    public UUID uuid() {
        try {
            return UUID.fromString(header.uuid());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    @Override
    public ParentReference parent() {
        return null;
    }

    /** Partial sectors are read back and rewritten by the filter: any byte can be written alone. */
    @Override
    public long fillUnit() {
        return 1;
    }

    @Override
    public long map(long offset, long maxLength) {
        return Run.data(Math.min(maxLength, blockSize - (offset & (blockSize - 1))));
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        region.read(offset, dst);
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        region.write(offset, src);
        return WriteResult.DONE;
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        for (long done = 0; done < length; ) {
            int n = (int) Math.min(BLOCK, length - done);
            region.write(offset + done, ByteBuffer.allocate(n));
            done += n;
        }
    }

    /** Flush and close as every image does, then zero the key the cipher holds. */
    @Override
    protected void closeImage() throws IOException {
        try {
            super.closeImage();
        } finally {
            cipher.close();
        }
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("luks-version", header.version());
        d.put("cipher", header.segment().encryption());
        d.put("key-bits", header.keyBytes() * 8);
        d.put("payload-offset", header.segment().offset());
        d.put("encryption-sector-size", header.segment().sectorSize());
        d.put("key-slots", header.keyslots().stream().map(LuksKeyslot::id).toList());
        d.put("kdf", header.keyslots().stream().map(LuksKeyslot::kdf).distinct().toList());
        return d;
    }
}
