package org.vdmount.vd.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.format.ewf.EwfFixture;

/**
 * Coverage-guided fuzzing of every image parser (Jazzer): each target writes the fuzzer's bytes
 * as a file, probes and opens it read-only with one format and reads it (see {@link FuzzOracle}).
 * {@code mvn test} replays the committed corpus under {@code FormatFuzzTestInputs/<target>}
 * (real headers made by qemu-img and by this library); {@code campaigns/fuzz.sh} fuzzes.
 */
class FormatFuzzTest {
    private static final Path DIR = FuzzOracle.scratch("formats");
    private static final long MIB = 1 << 20;
    /** A VHDX made by this library: its 4+ MiB are patched, not generated (see {@link #vhdx}). */
    static final byte[] VHDX_TEMPLATE = template("vhdx", "t.vhdx",
            CreateOptions.of(MIB).with("block_size", "1M").with("log_size", "1M"));

    private static void openAs(String format, String fileName, byte[] content) {
        Path p = FuzzOracle.input(DIR, fileName, content);
        FuzzOracle.expect(() -> {
            ImageFormat f = FormatRegistry.require(format);
            try (Image img = f.open(p, OpenOptions.defaultReadOnly())) {
                FuzzOracle.exercise(img);
            }
        });
    }

    @FuzzTest(maxDuration = "10s")
    void vdi(byte[] data) {
        openAs("vdi", "f.vdi", data);
    }

    @FuzzTest(maxDuration = "10s")
    void vhd(FuzzedDataProvider in) {
        boolean fixSums = in.consumeBoolean();
        byte[] file = in.consumeRemainingAsBytes();
        if (fixSums) {
            Checksums.fixVhd(file);
        }
        openAs("vhd", "f.vhd", file);
    }

    /**
     * VHDX files are megabytes, so the input patches a real one (made by this library) instead of
     * being the file: pages of 64 KiB, an offset in the first 4 KiB of the page, up to 64 bytes;
     * optionally the checksums recomputed and the file cut short. The file stays on disk between
     * inputs and only the patched bytes are written and then restored, to keep executions fast.
     */
    @FuzzTest(maxDuration = "10s")
    void vhdx(FuzzedDataProvider in) {
        FuzzOracle.expect(() -> VhdxPatch.run(in));
    }

    @FuzzTest(maxDuration = "10s")
    void vmdkSparse(byte[] data) {
        openAs("vmdk", "f.vmdk", data);
    }

    /** A descriptor naming extents that exist: a flat one and a sparse one. */
    @FuzzTest(maxDuration = "10s")
    void vmdkDescriptor(byte[] data) {
        FuzzOracle.expect(() -> {
            FuzzOracle.clear(DIR);
            Path p = DIR.resolve("d.vmdk");
            Files.write(p, data);
            try (FileChannel ch = FileChannel.open(DIR.resolve("d-flat.vmdk"), StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[] {1}), MIB - 1);
            }
            try (Image img = FormatRegistry.require("vmdk").open(p, OpenOptions.defaultReadOnly())) {
                FuzzOracle.exercise(img);
            }
        });
    }

    @FuzzTest(maxDuration = "10s")
    void qcow2(byte[] data) {
        openAs("qcow2", "f.qcow2", data);
    }

    @FuzzTest(maxDuration = "10s")
    void qed(byte[] data) {
        openAs("qed", "f.qed", data);
    }

    @FuzzTest(maxDuration = "10s")
    void qcow(byte[] data) {
        openAs("qcow", "f.qcow", data);
    }

    /** A UDIF image: koly trailer, XML property list, block tables, chunks (seeds: the DMG test writer's). */
    @FuzzTest(maxDuration = "10s")
    void dmg(byte[] data) {
        openAs("dmg", "f.dmg", data);
    }

    /**
     * An E01 segment (seeds: made by libewf's ewfacquire, one zlib-compressed and one stored);
     * optionally its descriptor, volume and table Adler-32s recomputed so the fuzzer gets past
     * them to the values. Evidence comes from whoever made it: the parser must hold against it.
     */
    @FuzzTest(maxDuration = "10s")
    void ewf(FuzzedDataProvider in) {
        boolean fixSums = in.consumeBoolean();
        byte[] file = in.consumeRemainingAsBytes();
        if (fixSums) {
            new EwfFixture().fixChecksums(file, file.length);
        }
        openAs("ewf", "f.E01", file);
    }

    /** A bare Parallels image file ("WithouFreSpacExt" / "WithoutFreeSpace"; seeds: this library's writer). */
    @FuzzTest(maxDuration = "10s")
    void parallels(byte[] data) {
        openAs("parallels", "f.hds", data);
    }

    /**
     * A Parallels bundle's DiskDescriptor.xml (the input) beside the two image files of a real
     * bundle, a base and a snapshot over it (made once by this library's writer): the XML, the
     * snapshot tree, the image file names it gives (untrusted paths) and the chain they make.
     */
    @FuzzTest(maxDuration = "10s")
    void parallelsBundle(byte[] data) {
        FuzzOracle.expect(() -> {
            Path bundle = ParallelsBundle.get(DIR.resolve("bundle"));
            Files.write(bundle.resolve("DiskDescriptor.xml"), data);
            try (Disk disk = Disk.open(bundle, OpenOptions.defaultReadOnly())) {
                FuzzOracle.exercise(disk);
            }
        });
    }

    /**
     * A LUKS1 or LUKS2 header (the input: seeds are the headers this library's writer makes with
     * PBKDF2), the file extended past every key slot area and the payload (sparse). Optionally the
     * LUKS2 SHA-256 checksums recomputed. The header is parsed; where every key derivation it asks
     * for is cheap, the volume is unlocked with the seeds' password too (the key slots' anti-forensic
     * split, the digest, the cipher spec) and read. A costly KDF is a user's choice, not a finding.
     */
    @FuzzTest(maxDuration = "10s")
    void luks(FuzzedDataProvider in) {
        FuzzOracle.expect(() -> LuksInput.run(DIR, in));
    }

    /** A split raw set: which parts exist, how long each is, .000 or .001 first. */
    @FuzzTest(maxDuration = "10s")
    void rawSplit(FuzzedDataProvider in) {
        FuzzOracle.expect(() -> {
            FuzzOracle.clear(DIR);
            int first = in.consumeBoolean() ? 0 : 1;
            int parts = in.consumeInt(1, 6);
            Path open = null;
            for (int i = 0; i < parts; i++) {
                if (in.consumeInt(0, 7) == 0) {
                    continue; // a gap in the set
                }
                Path p = DIR.resolve(String.format("s.%03d", first + i));
                Files.write(p, in.consumeBytes(in.consumeInt(0, 2048)));
                open = open == null ? p : open;
            }
            if (open == null) {
                return;
            }
            try (Image img = FormatRegistry.require("raw").open(open, OpenOptions.defaultReadOnly())) {
                FuzzOracle.exercise(img);
            }
        });
    }

    /**
     * Probe and chain resolution: the input is a child image (any format, probed) beside two
     * possible parents, {@code base.qcow2} and {@code base.vmdk}; its parent locators are resolved,
     * UUIDs compared, and the chain read.
     */
    @FuzzTest(maxDuration = "10s")
    void chain(byte[] data) {
        FuzzOracle.expect(() -> {
            Path dir = DIR.resolve("chain");
            Files.createDirectories(dir);
            Path base = dir.resolve("base.qcow2");
            if (!Files.exists(base)) {
                FormatRegistry.require("qcow2").create(base, CreateOptions.of(MIB)).close();
                FormatRegistry.require("vmdk").create(dir.resolve("base.vmdk"), CreateOptions.of(MIB)).close();
            }
            Path child = dir.resolve("child.img");
            Files.write(child, data);
            try (Disk disk = Disk.open(child, OpenOptions.defaultReadOnly())) {
                FuzzOracle.exercise(disk);
            }
        });
    }

    private static byte[] template(String format, String name, CreateOptions options) {
        try {
            Path p = DIR.resolve(name);
            Files.deleteIfExists(p);
            FormatRegistry.require(format).create(p, options).close();
            byte[] b = Files.readAllBytes(p);
            Files.delete(p);
            return b;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Recomputes the checksums a mutation broke, so the fuzzer gets past them to the fields. */
    static final class Checksums {
        private Checksums() {
        }

        /** VHD: one's complement of the byte sum; footer at the end (and its copy at 0), dynamic header at 512. */
        static void fixVhd(byte[] f) {
            if (f.length >= 512) {
                vhdSum(f, f.length - 512, 512, 64);
                vhdSum(f, 0, 512, 64);
            }
            if (f.length >= 1536) {
                vhdSum(f, 512, 1024, 36);
            }
        }

        private static void vhdSum(byte[] f, int at, int len, int field) {
            java.util.Arrays.fill(f, at + field, at + field + 4, (byte) 0);
            int sum = 0;
            for (int i = at; i < at + len; i++) {
                sum += f[i] & 0xFF;
            }
            ByteBuffer.wrap(f, at + field, 4).putInt(~sum);
        }

        /** Recomputes the CRC-32C at {@code at + 4} over {@code len} bytes from {@code at} (VHDX headers, region tables). */
        static void crc32c(byte[] f, int at, int len) {
            if (at + len > f.length) {
                return;
            }
            java.util.Arrays.fill(f, at + 4, at + 8, (byte) 0);
            CRC32C c = new CRC32C();
            c.update(f, at, len);
            ByteBuffer.wrap(f, at + 4, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt((int) c.getValue());
        }
    }
}
