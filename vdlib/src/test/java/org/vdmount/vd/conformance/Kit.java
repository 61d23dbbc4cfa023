package org.vdmount.vd.conformance;

/**
 * The kit's knobs. {@code -Dvdmount.conformance.rounds=N} multiplies every campaign (operations
 * of the model runs, mutation cases, concurrency blocks) for a long run; the default keeps the
 * whole kit within a few minutes on two cores.
 */
public final class Kit {
    /**
     * The password of every encrypted image the kit makes (LUKS): the kit's opens carry it, other
     * formats never ask for it.
     */
    public static final org.vdmount.vd.crypto.SecretSource SECRET =
            what -> "conformance kit password".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    /** Read-only options of the kit's opens (with {@link #SECRET}). */
    public static org.vdmount.vd.OpenOptions readOnly() {
        return org.vdmount.vd.OpenOptions.defaultReadOnly().withSecrets(SECRET);
    }

    /** Writable options of the kit's opens (with {@link #SECRET}). */
    public static org.vdmount.vd.OpenOptions readWrite() {
        return org.vdmount.vd.OpenOptions.defaultReadWrite().withSecrets(SECRET);
    }

    /** Virtual size of the images the model and concurrency tests make: a partial last block. */
    public static final long MODEL_SIZE = 8L * 1024 * 1024 + 3 * 4096;
    /** Virtual size of the images the kit makes to corrupt: small, so that cases stay cheap. */
    public static final long MUTATION_SIZE = 2L * 1024 * 1024 + 3 * 4096;

    private Kit() {
    }

    /** The campaign multiplier, at least 1. */
    public static int rounds() {
        String v = System.getProperty("vdmount.conformance.rounds", "1").strip();
        try {
            return Math.max(1, Integer.parseInt(v));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("vdmount.conformance.rounds must be a number, not '" + v + "'", e);
        }
    }

    /** The seed of a campaign: fixed per format and test, so that a failure can be replayed. */
    public static long seed(String... parts) {
        long h = 1125899906842597L;
        for (String p : parts) {
            for (int i = 0; i < p.length(); i++) {
                h = 31 * h + p.charAt(i);
            }
            h = 31 * h + '/';
        }
        return h;
    }
}
