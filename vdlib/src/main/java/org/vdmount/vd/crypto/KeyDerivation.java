package org.vdmount.vd.crypto;

import java.security.GeneralSecurityException;

/** The slot key from the password, by the slot's KDF (LUKS2 section 3.2 "kdf"; LUKS1: PBKDF2 only). */
final class KeyDerivation {
    /** Memory an argon2 slot may ask for: cryptsetup's own maximum is 4 GiB. */
    static final long MAX_ARGON2_KIB = 4L << 20;

    private KeyDerivation() {
    }

    static byte[] derive(LuksKeyslot slot, byte[] password) throws GeneralSecurityException {
        if (slot.kdf().equals("pbkdf2")) {
            return Pbkdf2.derive(slot.kdfHash(), password, slot.salt(), slot.iterations(), slot.areaKeyBytes());
        }
        long mem = slot.memoryKiB();
        if (mem > MAX_ARGON2_KIB || slot.iterations() < 1 || slot.iterations() > 1000 || slot.parallel() < 1
                || slot.parallel() > 16) {
            throw new GeneralSecurityException("argon2 cost (time " + slot.iterations() + ", memory " + mem
                    + " KiB, cpus " + slot.parallel() + ") is out of range");
        }
        long free = Runtime.getRuntime().maxMemory() - (Runtime.getRuntime().totalMemory()
                - Runtime.getRuntime().freeMemory());
        if (mem * 1024 > free - (64L << 20)) {
            throw new GeneralSecurityException("argon2 slot needs " + (mem >> 10) + " MiB of memory, more than "
                    + "the Java heap offers (" + (free >> 20) + " MiB free; raise it with JAVA_TOOL_OPTIONS=-Xmx...)");
        }
        return Argon2.derive(slot.kdf().equals("argon2id") ? Argon2.TYPE_ID : Argon2.TYPE_I, password, slot.salt(),
                (int) slot.iterations(), (int) mem, slot.parallel(), slot.areaKeyBytes());
    }
}
