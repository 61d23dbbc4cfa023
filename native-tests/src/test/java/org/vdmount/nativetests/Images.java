package org.vdmount.nativetests;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/** Fixtures made at test time with the real tools (qemu-img, sfdisk, mkfs), qemu-img as oracle. */
final class Images {
    static final int MIB = 1024 * 1024;

    /** The image kinds qemu-img makes, with our format name and qemu's. */
    enum Variant {
        RAW("raw", "raw", "raw", List.of()),
        VDI_DYNAMIC("vdi", "vdi", "vdi", List.of()),
        VDI_STATIC("vdi", "vdi", "vdi", List.of("-o", "static=on")),
        VHD_DYNAMIC("vhd", "vpc", "vhd", List.of("-o", "subformat=dynamic,force_size=on")),
        VHD_FIXED("vhd", "vpc", "vhd", List.of("-o", "subformat=fixed,force_size=on"));

        final String ours;
        final String qemu;
        final String ext;
        final List<String> options;

        Variant(String ours, String qemu, String ext, List<String> options) {
            this.ours = ours;
            this.qemu = qemu;
            this.ext = ext;
            this.options = options;
        }

        /** Skips while this build has no backend for the format (it lands from another branch). */
        void assumeSupported() {
            Assumptions.assumeTrue(FormatRegistry.byName(ours).isPresent(), "format " + ours + " not in this build");
        }

        /** qemu-img convert raw → this variant. */
        Path convert(Path raw, Path dir, String stem) {
            Sh.require("qemu-img");
            Path out = dir.resolve(stem + "." + ext);
            List<String> cmd = new ArrayList<>(List.of("qemu-img", "convert", "-f", "raw", "-O", qemu));
            cmd.addAll(options);
            cmd.add(raw.toString());
            cmd.add(out.toString());
            Sh.run(120, cmd).ok();
            return out;
        }

        /** VDI dynamic when this build has it, else VHD dynamic: for tests about the mount, not a format. */
        static Variant anyDynamic() {
            Variant v = FormatRegistry.byName("vdi").isPresent() ? VDI_DYNAMIC : VHD_DYNAMIC;
            v.assumeSupported();
            return v;
        }

        /** qemu-img check is meaningful for this format (qemu has no check for raw and vpc). */
        boolean qemuChecks() {
            return qemu.equals("vdi");
        }
    }

    private Images() {
    }

    /**
     * A raw disk of {@code sizeBytes}: per MiB, every third MiB zeros (with a stray non-zero
     * sector in some), the rest random. Sparse-looking images then have unallocated blocks.
     */
    static Path pattern(Path file, long sizeBytes, long seed) throws IOException {
        Random r = new Random(seed);
        byte[] chunk = new byte[MIB];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long off = 0, i = 0; off < sizeBytes; off += MIB, i++) {
                int n = (int) Math.min(MIB, sizeBytes - off);
                if (i % 3 == 0) {
                    java.util.Arrays.fill(chunk, (byte) 0);
                    if (i % 6 == 3) {
                        for (int k = 0; k < 512; k++) {
                            chunk[4096 + k] = (byte) (k + 1);
                        }
                    }
                } else {
                    r.nextBytes(chunk);
                }
                out.write(chunk, 0, n);
            }
        }
        return file;
    }

    /** qemu-img's raw rendering of an image: the oracle for every read. */
    static Path qemuRaw(Path image, String qemuFormat, Path out) {
        Sh.run(120, List.of("qemu-img", "convert", "-f", qemuFormat, "-O", "raw", image.toString(), out.toString())).ok();
        return out;
    }

    /** A differencing image {@code child} over {@code base}, made by our library (qemu cannot for VDI/VHD). */
    static Path differencing(String format, Path base, Path child) throws IOException {
        try (Disk parent = Disk.open(base, OpenOptions.defaultReadOnly())) {
            Image img = FormatRegistry.require(format).create(child, CreateOptions.of(0).withParent(parent, base));
            img.close();
        }
        return child;
    }

    /** One partition as sfdisk reports it: the independent oracle for partition offsets. */
    record Part(int number, long startBytes, long lengthBytes, boolean extended) {
    }

    static List<Part> sfdiskPartitions(Path raw) {
        String json = Sh.ok("sfdisk", "-J", raw.toString()).out();
        List<Part> out = new ArrayList<>();
        Matcher m = Pattern.compile("\"node\":\\s*\"[^\"]*?(\\d+)\",\\s*\"start\":\\s*(\\d+),\\s*\"size\":\\s*(\\d+),"
                + "\\s*\"type\":\\s*\"([^\"]*)\"").matcher(json);
        while (m.find()) {
            String type = m.group(4);
            boolean extended = type.equals("5") || type.equals("f") || type.equals("85");
            out.add(new Part(Integer.parseInt(m.group(1)), Long.parseLong(m.group(2)) * 512,
                    Long.parseLong(m.group(3)) * 512, extended));
        }
        return out;
    }

    /** Writes {@code len} seeded random bytes at {@code offset} of {@code target} through dd (conv=notrunc,fsync). */
    static void ddPatch(Path patchDir, Path target, long offset, int len, long seed) throws IOException {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        Path patch = patchDir.resolve("patch-" + seed + "-" + len);
        Files.write(patch, b);
        Sh.run(60, List.of("dd", "if=" + patch, "of=" + target, "bs=64K", "oflag=seek_bytes", "seek=" + offset,
                "conv=notrunc,fsync", "status=none")).ok();
    }

    static boolean kernelHas(String fs) {
        try {
            return Files.readString(Path.of("/proc/filesystems")).lines().anyMatch(l -> l.endsWith("\t" + fs))
                    || Sh.onPath("modprobe") && Sh.run(30, List.of("modprobe", fs)).exit() == 0
                    && Files.readString(Path.of("/proc/filesystems")).lines().anyMatch(l -> l.endsWith("\t" + fs));
        } catch (IOException e) {
            return false;
        }
    }
}
