package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.Storage;

/**
 * Opens a LUKS volume with a password (LUKS1 section 3.2 "Recovering the master key", LUKS2
 * section 4): for each active key slot, derive the slot key, decrypt the slot's key material
 * (512-byte sectors numbered from 0 at the material's start), AF-merge it into a candidate master
 * key and accept it when its PBKDF2 digest matches. The password, slot keys and candidates are
 * zeroed as soon as they are spent; messages never contain them.
 */
public final class LuksUnlock {
    private LuksUnlock() {
    }

    /**
     * The payload cipher of {@code header}, keyed with the master key the password opens. Throws
     * one line, "no key slot opens with this password", when none does. Zeroes {@code password}.
     */
    public static SectorCipher open(Storage storage, LuksHeader header, byte[] password, String format, Path file)
            throws IOException {
        try {
            if (header.keyslots().isEmpty()) {
                throw new VdException(format + ": " + file + ": LUKS header has no active key slot");
            }
            byte[] mk = masterKey(storage, header, password, format, file);
            try {
                return SectorCipher.of(header.segment().encryption(), mk);
            } catch (GeneralSecurityException e) {
                throw new UnsupportedFeatureException(format + ": " + file + ": payload " + e.getMessage());
            } finally {
                Arrays.fill(mk, (byte) 0);
            }
        } finally {
            Arrays.fill(password, (byte) 0);
        }
    }

    /** The master key (the caller zeroes it) or the "no key slot opens" error. */
    static byte[] masterKey(Storage storage, LuksHeader header, byte[] password, String format, Path file)
            throws IOException {
        for (LuksKeyslot slot : header.keyslots()) {
            byte[] mk = tryKeyslot(storage, header, slot, password, format, file);
            if (mk != null) {
                return mk;
            }
        }
        throw new VdException(format + ": " + file + ": no key slot opens with this password ("
                + header.keyslots().size() + " active slot" + (header.keyslots().size() == 1 ? "" : "s") + " tried)");
    }

    private static byte[] tryKeyslot(Storage storage, LuksHeader header, LuksKeyslot slot, byte[] password,
                                     String format, Path file) throws IOException {
        byte[] slotKey = null;
        byte[] material = null;
        byte[] mk = null;
        try {
            slotKey = KeyDerivation.derive(slot, password);
            ByteBuffer buf = ByteBuffer.allocate((int) slot.materialBytes());
            storage.readFully(buf, slot.areaOffset(), format, "LUKS key slot " + slot.id() + " material");
            material = buf.array();
            try (SectorCipher c = SectorCipher.of(slot.areaEncryption(), slotKey)) {
                c.decrypt(0, 512, material, 0, material.length);
            }
            mk = AfSplitter.merge(material, slot.keyBytes(), slot.stripes(), slot.afHash());
            for (LuksDigest d : header.digests()) {
                if (d.keyslots().contains(slot.id()) && matches(d, mk)) {
                    byte[] out = mk;
                    mk = null;
                    return out;
                }
            }
            return null;
        } catch (GeneralSecurityException e) {
            throw new UnsupportedFeatureException(format + ": " + file + ": LUKS key slot " + slot.id() + ": "
                    + e.getMessage());
        } finally {
            zero(slotKey);
            zero(material);
            zero(mk);
        }
    }

    static boolean matches(LuksDigest d, byte[] mk) throws GeneralSecurityException {
        if (d.digest().length < 16) {
            return false; // too short to check anything: never accept a key on it
        }
        byte[] got = Pbkdf2.derive(d.hash(), mk, d.salt(), d.iterations(), d.digest().length);
        boolean ok = MessageDigest.isEqual(got, d.digest());
        Arrays.fill(got, (byte) 0);
        return ok;
    }

    private static void zero(byte[] b) {
        if (b != null) {
            Arrays.fill(b, (byte) 0);
        }
    }
}
