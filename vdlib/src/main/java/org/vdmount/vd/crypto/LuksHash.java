package org.vdmount.vd.crypto;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;

/** The hash names LUKS headers use ("sha1", "sha256", "sha512") mapped to JCA names. */
final class LuksHash {
    private LuksHash() {
    }

    static String jcaName(String hash) throws NoSuchAlgorithmException {
        return switch (hash.toLowerCase(Locale.ROOT)) {
            case "sha1" -> "SHA-1";
            case "sha224" -> "SHA-224";
            case "sha256" -> "SHA-256";
            case "sha384" -> "SHA-384";
            case "sha512" -> "SHA-512";
            default -> throw new NoSuchAlgorithmException("hash '" + hash + "' is not supported (sha1, sha224, "
                    + "sha256, sha384, sha512 are)");
        };
    }

    static String hmacName(String hash) throws NoSuchAlgorithmException {
        return "Hmac" + jcaName(hash).replace("-", "");
    }

    static MessageDigest digest(String hash) throws NoSuchAlgorithmException {
        return MessageDigest.getInstance(jcaName(hash));
    }
}
