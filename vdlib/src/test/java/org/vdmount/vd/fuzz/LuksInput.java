package org.vdmount.vd.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.crypto.LuksDigest;
import org.vdmount.vd.crypto.LuksHeader;
import org.vdmount.vd.crypto.LuksKeyslot;
import org.vdmount.vd.crypto.SecretSource;
import org.vdmount.vd.storage.FileStorage;

/** The LUKS fuzz target's input and oracle (see {@link FormatFuzzTest#luks}). */
final class LuksInput {
    /** The password of the seed headers ({@code vd create -f luks -o iter-time=1}, and argon2id at 64 KiB). */
    static final SecretSource PASSWORD = what -> "fuzz".getBytes(StandardCharsets.UTF_8);
    /** Past LUKS2's default key slot areas (16 MiB) and some payload; sparse. */
    static final long FILE_SIZE = 20L << 20;
    /** The most PBKDF2 iterations, argon2 passes and argon2 KiB an unlock is tried with. */
    static final long CHEAP_ITERATIONS = 4000;
    static final long CHEAP_PASSES = 4;
    static final long CHEAP_KIB = 256;
    /** The secondary LUKS2 header's magic. */
    private static final byte[] SECONDARY = {'S', 'K', 'U', 'L', (byte) 0xba, (byte) 0xbe};

    private LuksInput() {
    }

    static void run(Path dir, FuzzedDataProvider in) throws IOException {
        boolean fixSums = in.consumeBoolean();
        run(dir, fixSums, in.consumeRemainingAsBytes());
    }

    static void run(Path dir, boolean fixSums, byte[] head) throws IOException {
        if (fixSums) {
            fixLuks2Checksum(head, 0);
            if (head.length >= 16) {
                long second = Bytes.of(head).u64be(8);
                if (second > 0 && second < head.length) {
                    fixLuks2Checksum(head, (int) second);
                }
            }
        }
        Path file = dir.resolve("f.luks");
        try {
            Files.write(file, head);
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.setLength(Math.max(FILE_SIZE, head.length));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("fuzz harness: writing " + file, e); // not the parser's answer
        }
        LuksHeader header;
        try (FileStorage s = FileStorage.open(file, true)) {
            header = LuksHeader.read(s, "luks", file);
        }
        OpenOptions options = OpenOptions.defaultReadOnly();
        if (cheap(header)) {
            options = options.withSecrets(PASSWORD);
        }
        try (Image img = FormatRegistry.require("luks").open(file, options)) {
            FuzzOracle.exercise(img);
        }
    }

    /** Whether unlocking costs milliseconds: every key derivation the header asks for is small. */
    private static boolean cheap(LuksHeader h) {
        for (LuksKeyslot k : h.keyslots()) {
            boolean argon = k.kdf().startsWith("argon2");
            if (argon ? k.iterations() > CHEAP_PASSES || k.memoryKiB() > CHEAP_KIB : k.iterations() > CHEAP_ITERATIONS) {
                return false;
            }
        }
        for (LuksDigest d : h.digests()) {
            if (d.iterations() > CHEAP_ITERATIONS) {
                return false;
            }
        }
        return true;
    }

    /**
     * LUKS2 binary header at {@code at} (LUKS2 on-disk format §2): SHA-256 over {@code hdr_size}
     * bytes (binary header and JSON area) with the checksum field (+448, 64 bytes) zeroed.
     */
    private static void fixLuks2Checksum(byte[] b, int at) {
        if (at + 512 > b.length || b[at + 6] != 0 || b[at + 7] != 2
                || !Arrays.equals(b, at, at + 6, LuksHeader.MAGIC, 0, 6) && !Arrays.equals(b, at, at + 6, SECONDARY, 0, 6)) {
            return;
        }
        long size = Bytes.of(b).u64be(at + 8);
        if (size < 16384 || size > b.length - at || Long.bitCount(size) != 1) {
            return;
        }
        Arrays.fill(b, at + 448, at + 512, (byte) 0);
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(b, at, (int) size);
            System.arraycopy(sha.digest(), 0, b, at + 448, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
