package org.vdmount.vd.format.luks;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Kit;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Variant;

/**
 * Raw LUKS volumes for the conformance kit, LUKS2 (PBKDF2 slot, to keep opens fast) and LUKS1,
 * with the kit's password. A new volume's payload is noise until written (as with qemu), so both
 * are made with preallocation=full (encrypted zeros), which reads as the kit's model expects.
 */
public class LuksFixture extends FixtureBase {

    public LuksFixture() {
        super("luks", ByteOrder.BIG_ENDIAN, false);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.fixed("luks2", "pbkdf=pbkdf2,iter-time=10,preallocation=full"),
                Variant.fixed("luks1", "luks-version=1,iter-time=10,preallocation=full"));
    }

    @Override
    public Path createBase(Path dir, String stem, Variant variant, long virtualSize) throws IOException {
        Path path = dir.resolve(stem + "." + extension());
        format().create(path, variant.baseOptions(virtualSize).withSecrets(Kit.SECRET)).close();
        return path;
    }

    /** The headers (LUKS1 phdr; both LUKS2 headers with their JSON) and slot 0's key material. */
    @Override
    public List<Region> regions(Path file, byte[] content) {
        boolean two = content.length > 8 && content[7] == 2;
        return two
                ? List.of(new Region("LUKS2 primary header and JSON", 0, 16384),
                        new Region("LUKS2 secondary header", 16384, 4096), new Region("key slot 0", 32768, 4096))
                : List.of(new Region("LUKS1 header", 0, 592), new Region("key slot 0", 4096, 4096));
    }

    /** Recomputes both LUKS2 header checksums (sha256 over hdr_size bytes, csum at 448 zeroed). */
    @Override
    public void fixChecksums(byte[] content, int length) {
        if (length < 8 || content[7] != 2) {
            return;
        }
        for (int at : new int[] {0, 16384}) {
            if (at + 16384 > length) {
                return;
            }
            try {
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                java.util.Arrays.fill(content, at + 448, at + 512, (byte) 0);
                md.update(content, at, 16384);
                System.arraycopy(md.digest(), 0, content, at + 448, 32);
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        return Oracle.none("qemu reads LUKS only with a secret object, which the kit's oracle does not pass "
                + "(LuksFormatTest compares with qemu-img convert instead)");
    }

    @Override
    public int mutationCases() {
        return 150;
    }
}
