package org.vdmount.vd.crypto;

import java.util.Set;

/**
 * The master-key check: PBKDF2(hash, master key, salt, iterations) must equal {@code digest}
 * (LUKS1 mk-digest fields; a LUKS2 "pbkdf2" digest object).
 *
 * @param keyslots the slots whose keys it checks (LUKS1: all)
 */
public record LuksDigest(String hash, long iterations, byte[] salt, byte[] digest, Set<String> keyslots) {
}
