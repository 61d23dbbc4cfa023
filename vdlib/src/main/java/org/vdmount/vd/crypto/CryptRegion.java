package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import org.vdmount.vd.storage.Storage;

/**
 * The encryption filter over a byte range of a storage: plaintext byte N of the region is
 * ciphertext byte {@code start + N} of the storage, encrypted in sectors of {@code sectorSize}
 * whose IV is {@code ivBase + N / sectorSize} (dm-crypt and qemu count sectors from the payload's
 * start, in units of the encryption sector). Reads decrypt whole sectors; writes encrypt whole
 * sectors, reading back (under a per-sector lock) the sectors a write covers only partly.
 * Thread-safe. The sectors are decrypted and encrypted in a scratch array per thread, reused by
 * every request (a mount's readers make no garbage per request).
 */
public final class CryptRegion {
    private static final int LOCKS = 64;
    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[0]);

    private final Storage storage;
    private final long start;
    private final int sectorSize;
    private final long ivBase;
    private final SectorCipher cipher;
    private final Object[] locks = new Object[LOCKS];

    public CryptRegion(Storage storage, long start, int sectorSize, long ivBase, SectorCipher cipher) {
        this.storage = storage;
        this.start = start;
        this.sectorSize = sectorSize;
        this.ivBase = ivBase;
        this.cipher = cipher;
        for (int i = 0; i < LOCKS; i++) {
            locks[i] = new Object();
        }
    }

    public int sectorSize() {
        return sectorSize;
    }

    public SectorCipher cipher() {
        return cipher;
    }

    /** Fills {@code dst} with the plaintext at region offset {@code offset}; past the file's end reads zeros. */
    public void read(long offset, ByteBuffer dst) throws IOException {
        long first = offset / sectorSize;
        long end = offset + dst.remaining();
        long last = (end + sectorSize - 1) / sectorSize;
        int len = (int) ((last - first) * sectorSize);
        byte[] buf = scratch(len);
        readSectors(first, buf, len);
        dst.put(buf, (int) (offset - first * sectorSize), dst.remaining());
    }

    /** This thread's scratch array, at least {@code len} bytes. */
    private static byte[] scratch(int len) {
        byte[] b = SCRATCH.get();
        if (b.length < len) {
            b = new byte[len];
            SCRATCH.set(b);
        }
        return b;
    }

    /** Sectors {@code first ...} decrypted into {@code buf[0, len)}. */
    private void readSectors(long first, byte[] buf, int len) throws IOException {
        int n = storage.read(ByteBuffer.wrap(buf, 0, len), start + first * sectorSize);
        int whole = Math.max(0, n) / sectorSize * sectorSize;
        java.util.Arrays.fill(buf, whole, len, (byte) 0); // sectors past the end of the file
        try {
            cipher.decrypt(ivBase + first, sectorSize, buf, 0, whole);
        } catch (GeneralSecurityException e) {
            throw new IOException(cipher.spec() + ": " + e.getMessage(), e);
        }
    }

    /** Encrypts {@code src} into the region at {@code offset}. */
    public void write(long offset, ByteBuffer src) throws IOException {
        long first = offset / sectorSize;
        long end = offset + src.remaining();
        long last = (end + sectorSize - 1) / sectorSize;
        boolean partialHead = offset % sectorSize != 0;
        boolean partialTail = end % sectorSize != 0;
        if (!partialHead && !partialTail) {
            int len = src.remaining();
            byte[] buf = scratch(len);
            src.get(buf, 0, len);
            encryptAndWrite(first, buf, len);
            return;
        }
        // read-modify-write of the partly covered sectors, locked so two partial writers of one
        // sector cannot lose each other's bytes
        int a = (int) Math.floorMod(first, (long) LOCKS);
        int b = (int) Math.floorMod(last - 1, (long) LOCKS);
        synchronized (locks[Math.min(a, b)]) {
            synchronized (locks[Math.max(a, b)]) {
                int len = (int) ((last - first) * sectorSize);
                byte[] buf = scratch(len);
                readSectors(first, buf, len);
                src.get(buf, (int) (offset - first * sectorSize), src.remaining());
                encryptAndWrite(first, buf, len);
            }
        }
    }

    private void encryptAndWrite(long first, byte[] buf, int len) throws IOException {
        try {
            cipher.encrypt(ivBase + first, sectorSize, buf, 0, len);
        } catch (GeneralSecurityException e) {
            throw new IOException(cipher.spec() + ": " + e.getMessage(), e);
        }
        storage.write(ByteBuffer.wrap(buf, 0, len), start + first * sectorSize);
    }
}
