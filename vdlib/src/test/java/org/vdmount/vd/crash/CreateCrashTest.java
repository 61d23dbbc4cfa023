package org.vdmount.vd.crash;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;

/**
 * A kill during {@code create} (vd create, vd convert, a new overlay): the process dies after the
 * N-th host write of the creation, for every N, half of them with write N+1 torn. What is left is
 * either a valid image that reads all zeros or a file an open refuses with one clear line naming
 * it ({@link VdException}) — never another exception, and never a disk that reads anything but
 * zeros. A writable open may refuse what a read-only one reads from a redundant copy (a VHD whose
 * end footer is lost), never the other way round.
 */
class CreateCrashTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"raw", "vdi", "vhd", "vhdx", "vmdk", "qcow2", "qed", "qcow"})
    void aCreationKilledAtAnyWriteLeavesAnEmptyImageOrAClearRefusal(String name) throws Exception {
        CrashCampaign.Target target = CrashCampaign.target(name);
        ImageFormat format = FormatRegistry.require(name);
        CreateOptions co = CreateOptions.of(CrashCampaign.VIRTUAL_SIZE);
        for (Map.Entry<String, String> e : target.options().entrySet()) {
            co = co.with(e.getKey(), e.getValue());
        }
        long writes = create(format, dir.resolve("counted." + target.extension()), co, Long.MAX_VALUE, false);
        int valid = 0;
        int refused = 0;
        for (long n = 0; n <= writes; n++) {
            for (boolean torn : new boolean[] {false, true}) {
                Path p = dir.resolve("k" + n + (torn ? "t." : ".") + target.extension());
                create(format, p, co, n, torn);
                String where = name + " create killed at write " + (n + 1) + (torn ? " (torn)" : "") + " of "
                        + writes + ": ";
                boolean opened = opensEmpty(format, p, OpenOptions.defaultReadOnly(), where);
                boolean writable = opensEmpty(format, p, OpenOptions.defaultReadWrite(), where);
                // a read-only open may use a format's redundant copy (VHD's footer copy at offset 0)
                // where a writable one refuses, in one line; never the other way round
                if (writable && !opened) {
                    fail(where + "opens writable but not read-only");
                }
                if (opened) {
                    valid++;
                } else {
                    refused++;
                }
            }
        }
        System.out.printf("create crash %s: %d kill points over %d host writes: %d valid empty images, "
                + "%d clear refusals%n", name, valid + refused, writes, valid, refused);
        assertTrue(valid > 0, "the undisturbed creation is a valid image");
    }

    /** Creates {@code path} letting {@code allowed} host writes through; returns the writes seen. */
    private static long create(ImageFormat format, Path path, CreateOptions co, long allowed, boolean torn)
            throws IOException {
        return FaultedRun.dropAfter(allowed, torn, allowed * 7 + 1, () -> {
            try (Image img = format.create(path, co)) {
                img.flush();
            }
        });
    }

    /** True if {@code p} opens as {@code format} and reads all zeros; false if refused in one clear line. */
    private static boolean opensEmpty(ImageFormat format, Path p, OpenOptions options, String where) {
        if (!Files.exists(p)) {
            return false; // nothing left to open: the same as a refusal
        }
        try (Disk d = Disk.open(p, format, options)) {
            ByteBuffer b = ByteBuffer.allocate(64 * 1024);
            for (long off = 0; off < d.size(); off += b.capacity()) {
                b.clear();
                d.read(off, b);
                b.flip();
                while (b.hasRemaining()) {
                    if (b.get() != 0) {
                        fail(where + "reads non-zero data at " + (off + b.position() - 1));
                    }
                }
            }
            return true;
        } catch (VdException e) {
            String m = e.getMessage();
            assertTrue(m != null && m.contains(p.getFileName().toString()) && !m.contains("\n"),
                    where + "refusal must name the file in one line: " + m);
            return false;
        } catch (IOException | RuntimeException e) {
            throw new AssertionError(where + "open failed with " + e, e);
        }
    }
}
