package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.file.Path;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.crypto.CryptStorage;
import org.vdmount.vd.crypto.LuksHeader;
import org.vdmount.vd.crypto.LuksUnlock;
import org.vdmount.vd.crypto.SectorCipher;
import org.vdmount.vd.crypto.StorageWindow;
import org.vdmount.vd.storage.Storage;

/**
 * qcow2's LUKS encryption (crypt_method 2, qcow2.txt "Full disk encryption header pointer"): a
 * LUKS header with its key slots lies in clusters the 0x0537be77 extension points at; data
 * clusters are encrypted with the LUKS payload cipher, in 512-byte sectors whose IV is the host
 * sector number (qemu sets crypt_physical_offset for LUKS; checked against qemu's own images).
 * Metadata (header, tables, refcounts) is plain. The data storage is wrapped in the
 * {@link CryptStorage} filter; the rest of the format does not know.
 */
final class Qcow2Encryption {
    private Qcow2Encryption() {
    }

    /** The decrypting view of {@code data} (the image file or its data file), unlocked with the password. */
    static Storage unlock(Storage storage, Storage data, HeaderExtensions ext, Qcow2Header h, long fileSize,
                          OpenOptions options, Path path) throws IOException {
        long off = ext.cryptoOffset();
        long len = ext.cryptoLength();
        if (off < h.clusterSize() || len < 592 || off % h.clusterSize() != 0 || off > fileSize || len > fileSize - off) {
            throw new CorruptImageException("qcow2", path, "full disk encryption header pointer", ext.start(),
                    "LUKS header at " + off + " of " + len + " bytes is not cluster aligned or not inside the file ("
                    + fileSize + " bytes)");
        }
        StorageWindow window = new StorageWindow(storage, off, len);
        LuksHeader luks = LuksHeader.read(window, "qcow2", path);
        if (luks.segment().sectorSize() != 512 || luks.segment().ivTweak() != 0) {
            throw new org.vdmount.vd.UnsupportedFeatureException("qcow2: " + path + ": LUKS encryption sector "
                    + luks.segment().sectorSize() + " / iv_tweak " + luks.segment().ivTweak()
                    + " is not supported (512 / 0 are, as qemu writes)");
        }
        SectorCipher cipher = LuksUnlock.open(window, luks, options.secrets().password(path.toString()), "qcow2", path);
        return new CryptStorage(data, cipher, data != storage);
    }

    /** The storage under the decryption, or {@code s} itself when it is not encrypted. */
    static Storage plain(Storage s) {
        return s instanceof CryptStorage c ? c.inner() : s;
    }

    static boolean encrypted(Storage data) {
        return data instanceof CryptStorage;
    }
}
