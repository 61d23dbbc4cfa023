package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
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
        VHD_FIXED("vhd", "vpc", "vhd", List.of("-o", "subformat=fixed,force_size=on")),
        /** qemu's default block size for small disks is 8 MiB: the test writes cross block ends. */
        VHDX_DYNAMIC("vhdx", "vhdx", "vhdx", List.of("-o", "subformat=dynamic")),
        VHDX_FIXED("vhdx", "vhdx", "vhdx", List.of("-o", "subformat=fixed")),
        VMDK_SPARSE("vmdk", "vmdk", "vmdk", List.of("-o", "subformat=monolithicSparse")),
        VMDK_FLAT("vmdk", "vmdk", "vmdk", List.of("-o", "subformat=monolithicFlat")),
        VMDK_SPLIT_SPARSE("vmdk", "vmdk", "vmdk", List.of("-o", "subformat=twoGbMaxExtentSparse")),
        /** Compressed grains: read-only by design (vdmount --rw refuses it). */
        VMDK_STREAM("vmdk", "vmdk", "vmdk", List.of("-o", "subformat=streamOptimized")),
        QCOW2("qcow2", "qcow2", "qcow2", List.of()),
        /** zlib-compressed clusters (every third MiB of {@link #pattern} compresses). */
        QCOW2_COMPRESSED("qcow2", "qcow2", "qcow2", List.of("-c")),
        /** Version 2 images: no zero clusters, discard must write zeros or free clusters. */
        QCOW2_V2("qcow2", "qcow2", "qcow2", List.of("-o", "compat=0.10")),
        QED("qed", "qed", "qed", List.of()),
        QCOW("qcow", "qcow", "qcow", List.of());

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

        /** Every variant vdmount --rw accepts (for parameterized write tests). */
        static Stream<Variant> writable() {
            return Stream.of(values()).filter(v -> v != VMDK_STREAM);
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
            if (this == QCOW2_COMPRESSED) { // a fixture without compressed clusters would test nothing
                String check = Sh.ok("qemu-img", "check", "--output=json", out.toString()).out();
                Matcher m = Pattern.compile("\"compressed-clusters\":\\s*(\\d+)").matcher(check);
                assertTrue(m.find() && Long.parseLong(m.group(1)) > 0, "no compressed clusters: " + check);
            }
            return out;
        }

        /** qemu-img check is meaningful for this format (qemu has no check for raw, vpc and qcow). */
        boolean qemuChecks() {
            return List.of("vdi", "vhdx", "vmdk", "qcow2", "qed").contains(qemu);
        }
    }

    private Images() {
    }

    /**
     * A raw disk of {@code sizeBytes}: per MiB, every third MiB zeros (with a stray non-zero
     * sector in some), every third MiB random bytes of four bits (compressible), the rest random.
     * Sparse-looking images then have unallocated blocks, compressed ones compressed clusters.
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
                    if (i % 3 == 2) {
                        for (int k = 0; k < n; k++) {
                            chunk[k] &= 0x0f;
                        }
                    }
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

    /**
     * The partitions of a GPT disk with {@code sectorBytes}-byte sectors as {@code fdisk -b N -l}
     * lists them (util-linux 2.38's sfdisk has no sector-size option).
     */
    static List<Part> fdiskGptPartitions(Path raw, int sectorBytes) {
        String out = Sh.ok("fdisk", "-b", String.valueOf(sectorBytes), "-l", "-o", "Device,Start,Sectors",
                raw.toString()).out();
        List<Part> parts = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(raw.toString()) + "(\\d+)\\s+(\\d+)\\s+(\\d+)\\s*$")
                .matcher(out);
        while (m.find()) {
            parts.add(new Part(Integer.parseInt(m.group(1)), Long.parseLong(m.group(2)) * sectorBytes,
                    Long.parseLong(m.group(3)) * sectorBytes, false));
        }
        return parts;
    }

    /** The same as listed by The Sleuth Kit's {@code mmls -b N}: a second, independent oracle (GPT slots are 0-based). */
    static List<Part> mmlsGptPartitions(Path raw, int sectorBytes) {
        String out = Sh.ok("mmls", "-b", String.valueOf(sectorBytes), raw.toString()).out();
        List<Part> parts = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^\\d+:\\s+(\\d+)\\s+(\\d+)\\s+\\d+\\s+(\\d+)").matcher(out);
        while (m.find()) {
            parts.add(new Part(Integer.parseInt(m.group(1)) + 1, Long.parseLong(m.group(2)) * sectorBytes,
                    Long.parseLong(m.group(3)) * sectorBytes, false));
        }
        return parts;
    }

    /**
     * The mount shows {@code disk} and one {@code p<N>} per data partition of {@code all}, each the
     * size and content of its slice of {@code raw}. An extended container may be shown or not
     * (Linux shows its first 1 KiB); when shown it starts with the container's bytes.
     */
    static void assertPartitionFiles(Path mnt, Path raw, List<Part> all) throws IOException {
        assertEquals(Files.size(raw), Files.size(mnt.resolve("disk")), "disk size");
        TreeSet<String> want = new TreeSet<>(List.of("disk"));
        TreeSet<String> shown;
        try (Stream<Path> s = Files.list(mnt)) {
            shown = new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
        }
        for (Part p : all) {
            Path f = mnt.resolve("p" + p.number());
            if (p.extended()) {
                // Linux's stub: two 512-byte sectors (this helper's disks use 512-byte sectors)
                want.add(f.getFileName().toString());
                long len = Math.min(1024, p.lengthBytes());
                assertEquals(len, Files.size(f), f + " size (the extended container's stub)");
                assertEquals(Sh.sha256(raw, p.startBytes(), len), Sh.sha256(f), f + " content");
                continue;
            }
            want.add(f.getFileName().toString());
            if (Files.exists(f)) {
                assertEquals(p.lengthBytes(), Files.size(f), f + " size");
                assertEquals(Sh.sha256(raw, p.startBytes(), p.lengthBytes()), Sh.sha256(f), f + " content");
            }
        }
        assertEquals(want, shown, "files shown");
    }

    /** A differencing chain: {@code base} (never written) under an empty {@code child}. */
    record Chain(Path base, Path child) {
    }

    /**
     * A chain whose base holds {@code raw}'s bytes, made the way users make them: qcow2 with
     * qemu-img over the raw file itself (relative backing name), VHDX with {@code vd create -b}
     * over a qemu-made base, VDI and VHD with our library (qemu cannot make their children).
     * {@code raw} must lie in {@code dir}: the qcow2 child records its bare file name.
     */
    static Chain chain(Variant v, Path raw, Path dir) throws IOException {
        switch (v) {
            case QCOW2 -> {
                Path child = dir.resolve("child.qcow2");
                Sh.ok("qemu-img", "create", "-f", "qcow2", "-b", raw.getFileName().toString(), "-F", "raw",
                        child.toString());
                return new Chain(raw, child);
            }
            case VHDX_DYNAMIC -> {
                Path base = v.convert(raw, dir, "base");
                Path child = dir.resolve("child.avhdx");
                Sh.ok(Fuse.REPO.resolve("vd").toString(), "create", "-f", "vhdx", "-b", base.toString(),
                        child.toString());
                return new Chain(base, child);
            }
            case VDI_DYNAMIC, VHD_DYNAMIC -> {
                Path base = v.convert(raw, dir, "base");
                return new Chain(base, differencing(v.ours, base, dir.resolve("child." + v.ext)));
            }
            default -> throw new IllegalArgumentException("no differencing fixture for " + v);
        }
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
