package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.storage.Storage;

/**
 * The encryption filter as a storage: the plaintext view of a storage whose byte N is encrypted in
 * 512-byte sectors with IV sector N / 512 (qcow2 with LUKS encrypts its data clusters so: the IV
 * counts host sectors, qemu's crypt_physical_offset). Reads decrypt and writes encrypt through a
 * {@link CryptRegion}; holes are never punched (a hole would read as noise), zeroing writes
 * encrypted zeros. Closing zeroes the key, and closes the storage only if this filter owns it.
 */
public final class CryptStorage implements Storage {
    private final Storage inner;
    private final SectorCipher cipher;
    private final CryptRegion region;
    private final boolean owns;

    public CryptStorage(Storage inner, SectorCipher cipher, boolean owns) {
        this.inner = inner;
        this.cipher = cipher;
        this.region = new CryptRegion(inner, 0, 512, 0, cipher);
        this.owns = owns;
    }

    /** The ciphertext storage under the filter. */
    public Storage inner() {
        return inner;
    }

    @Override
    public Path path() {
        return inner.path();
    }

    @Override
    public List<Path> files() {
        return inner.files();
    }

    @Override
    public boolean readOnly() {
        return inner.readOnly();
    }

    @Override
    public long size() throws IOException {
        return inner.size();
    }

    @Override
    public int read(ByteBuffer dst, long pos) throws IOException {
        int n = (int) Math.max(0, Math.min(dst.remaining(), inner.size() - pos));
        if (n > 0) {
            region.read(pos, dst.duplicate().limit(dst.position() + n));
            dst.position(dst.position() + n);
        }
        return n;
    }

    @Override
    public void readFully(ByteBuffer dst, long pos, String format, String structure) throws IOException {
        long size = inner.size();
        if (pos + dst.remaining() > size) {
            throw new TruncatedImageException(format, inner.path(), structure, pos, dst.remaining(), size);
        }
        read(dst, pos);
    }

    @Override
    public void write(ByteBuffer src, long pos) throws IOException {
        region.write(pos, src);
    }

    @Override
    public void truncate(long size) throws IOException {
        inner.truncate(size);
    }

    /** Never: the hole would decrypt to noise. {@link #zeroRange} then writes encrypted zeros. */
    @Override
    public boolean punchHole(long pos, long length) {
        return false;
    }

    @Override
    public void force() throws IOException {
        inner.force();
    }

    @Override
    public long allocatedBytes() throws IOException {
        return inner.allocatedBytes();
    }

    @Override
    public void close() throws IOException {
        try {
            if (owns) {
                inner.close();
            }
        } finally {
            cipher.close();
        }
    }
}
