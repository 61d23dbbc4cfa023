package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.vdmount.vd.ForwardingImage;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.MetadataField;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/**
 * VirtualBox's crypto filter (VDFilterCrypt.cpp, "CRYPT") over one image of a VDI, VMDK or VHD
 * chain. VirtualBox applies it to the guest's data at the virtual disk's offsets, after the
 * format has mapped it (VD.cpp vdFilterChainApplyRead / ...Write): the format's own metadata stays
 * plaintext. Each data unit, the disk's sector of 512 bytes (vdIOIntIoCtxGetDataUnitSize: the
 * first region's block size), is AES-XTS encrypted with the DEK, the tweak being the unit's number
 * (virtual offset / 512) as 64-bit little-endian in 16 bytes ("PLAIN64").
 *
 * <p>Runs the image does not hold (ZERO, UNALLOCATED) pass through unfiltered: they read as zeros
 * (or the parent's data) here, where VirtualBox decrypts the zeros too and shows noise. Bytes a
 * guest wrote read the same in both.
 */
public final class VBoxCryptImage extends ForwardingImage {
    /** The filter's data unit: the 512-byte sector of VDI, VMDK and VHD disks. */
    public static final int UNIT = 512;
    private static final int LOCKS = 64;

    private final SectorCipher cipher;
    private final String cipherName;
    /** Held over the read-modify-write of a partly written unit, striped by unit number. */
    private final Object[] locks = new Object[LOCKS];

    /** {@code image} filtered with {@code cipher} (owned from here: closed with the image). */
    public VBoxCryptImage(Image image, SectorCipher cipher, String cipherName) {
        super(image);
        this.cipher = cipher;
        this.cipherName = cipherName;
        for (int i = 0; i < LOCKS; i++) {
            locks[i] = new Object();
        }
    }



    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        long first = Math.floorDiv(offset, (long) UNIT);
        long end = offset + dst.remaining();
        long last = Math.floorDiv(end + UNIT - 1, (long) UNIT);
        byte[] buf = new byte[(int) ((last - first) * UNIT)];
        image.readData(first * UNIT, ByteBuffer.wrap(buf));
        crypt(false, first, buf);
        dst.put(buf, (int) (offset - first * UNIT), dst.remaining());
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        long first = Math.floorDiv(offset, (long) UNIT);
        long end = offset + src.remaining();
        long last = Math.floorDiv(end + UNIT - 1, (long) UNIT);
        if (offset % UNIT == 0 && end % UNIT == 0) {
            return writeUnits(offset, src, first, last);
        }
        // two writers of parts of one unit must not lose each other's bytes
        int a = (int) Math.floorMod(first, (long) LOCKS);
        int b = (int) Math.floorMod(last - 1, (long) LOCKS);
        synchronized (locks[Math.min(a, b)]) {
            synchronized (locks[Math.max(a, b)]) {
                return writeUnits(offset, src, first, last);
            }
        }
    }

    private WriteResult writeUnits(long offset, ByteBuffer src, long first, long last) throws IOException {
        long end = offset + src.remaining();
        byte[] buf = new byte[(int) ((last - first) * UNIT)];
        if (offset % UNIT != 0 && !plaintextOf(first, buf, 0)) {
            return WriteResult.NEEDS_FILL;
        }
        if (end % UNIT != 0 && (last - 1 != first || offset % UNIT == 0)
                && !plaintextOf(last - 1, buf, buf.length - UNIT)) {
            return WriteResult.NEEDS_FILL;
        }
        int at = (int) (offset - first * UNIT);
        int n = src.remaining();
        src.duplicate().get(buf, at, n);
        crypt(true, first, buf);
        WriteResult r = image.write(first * UNIT, ByteBuffer.wrap(buf));
        if (r == WriteResult.DONE) {
            src.position(src.position() + n);
        }
        return r;
    }

    /**
     * The plaintext of unit {@code unit} into {@code buf} at {@code at}: decrypted DATA, zeros for
     * a ZERO run; false where the image does not hold it (the caller answers NEEDS_FILL: only the
     * disk knows the parent's bytes).
     */
    private boolean plaintextOf(long unit, byte[] buf, int at) throws IOException {
        long run = image.map(unit * UNIT, UNIT);
        Allocation kind = Run.kind(run);
        if (kind == Allocation.UNALLOCATED) {
            return false;
        }
        if (kind == Allocation.DATA) {
            image.readData(unit * UNIT, ByteBuffer.wrap(buf, at, UNIT));
            try {
                cipher.decrypt(unit, UNIT, buf, at, UNIT);
            } catch (GeneralSecurityException e) {
                throw new IOException(cipherName + ": " + e.getMessage(), e);
            }
        }
        return true;
    }

    private void crypt(boolean encrypt, long firstUnit, byte[] buf) throws IOException {
        try {
            if (encrypt) {
                cipher.encrypt(firstUnit, UNIT, buf, 0, buf.length);
            } else {
                cipher.decrypt(firstUnit, UNIT, buf, 0, buf.length);
            }
        } catch (GeneralSecurityException e) {
            throw new IOException(cipherName + ": " + e.getMessage(), e);
        }
    }








    @Override
    public void close() throws IOException {
        try {
            image.close();
        } finally {
            cipher.close();
        }
    }













    /** At least the filter's unit: a write into space the image lacks must cover whole units. */
    @Override
    public long fillUnit() {
        return Math.max(UNIT, image.fillUnit());
    }


    @Override
    public Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>(image.details());
        d.put("encryption", "VirtualBox crypto filter " + cipherName);
        return d;
    }
}
