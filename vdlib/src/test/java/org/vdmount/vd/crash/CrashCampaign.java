package org.vdmount.vd.crash;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.storage.WriteFault;

/**
 * One writable format under the crash campaign: a template image, a seeded workload, and the
 * check of each kill point (reopen read-write with this library, every flushed sector present,
 * every other sector old or new, then {@code qemu-img check} and {@code qemu-img compare}).
 */
final class CrashCampaign {
    static final long VIRTUAL_SIZE = 8L << 20;

    /** A writable format, how to create its small test image, and qemu's name for it. */
    record Target(String format, String extension, Map<String, String> options, String qemuName,
                  boolean qemuChecks) {
    }

    static final List<Target> TARGETS = List.of(
            new Target("raw", "img", Map.of(), "raw", false),
            new Target("vdi", "vdi", Map.of(), "vdi", true),
            new Target("vhd", "vhd", Map.of("block_size", "512K"), "vpc", false),
            new Target("vhdx", "vhdx", Map.of("block_size", "1M", "log_size", "1M"), "vhdx", true),
            new Target("vmdk", "vmdk", Map.of(), "vmdk", true),
            new Target("qcow2", "qcow2", Map.of("cluster_size", "4K"), "qcow2", true),
            new Target("qed", "qed", Map.of("cluster_size", "4K", "table_size", "2"), "qed", true),
            new Target("qcow", "qcow", Map.of(), "qcow", false),
            new Target("parallels", "hds", Map.of("cluster_size", "4K"), "parallels", true));

    /** Formats whose differencing images qemu opens with their parent. */
    static final Set<String> QEMU_READS_CHILDREN = Set.of("qcow2", "qed", "vmdk", "qcow");

    static Target target(String format) {
        return TARGETS.stream().filter(t -> t.format().equals(format)).findFirst().orElseThrow();
    }

    final Target target;
    final Path dir;
    final Path template;
    /** The parent of a differencing template (the kill points copy only the child), or null. */
    final Path parent;
    final CrashWorkload workload;
    final long[] ends;

    /** Creates the template and counts the host writes of one undisturbed run. */
    CrashCampaign(Target target, Path dir, long seed, int ops) throws IOException {
        this(target, dir, seed, ops, false);
    }

    /**
     * As above; {@code differencing}: the template is a child of the same format over a parent
     * whose every sector holds a pattern, so partial writes fill from the parent and discards must
     * hide it.
     */
    CrashCampaign(Target target, Path dir, long seed, int ops, boolean differencing) throws IOException {
        this.target = target;
        this.dir = dir;
        this.template = dir.resolve("template" + seed + (differencing ? "-child." : ".") + target.extension());
        this.parent = differencing ? dir.resolve("parent" + seed + "." + target.extension()) : null;
        this.workload = new CrashWorkload(seed, VIRTUAL_SIZE, ops, differencing);
        CreateOptions co = CreateOptions.of(VIRTUAL_SIZE);
        for (Map.Entry<String, String> e : target.options().entrySet()) {
            co = co.with(e.getKey(), e.getValue());
        }
        ImageFormat format = FormatRegistry.require(target.format());
        if (differencing) {
            try (Image base = format.create(parent, co)) {
                Disk disk = Disk.of(List.of(base));
                ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
                for (long off = 0; off < VIRTUAL_SIZE; off += chunk.capacity()) {
                    for (int i = 0; i < chunk.capacity(); i += CrashWorkload.SECTOR) {
                        CrashWorkload.fill(chunk.slice(i, CrashWorkload.SECTOR),
                                workload.initialTag((int) ((off + i) / CrashWorkload.SECTOR)));
                    }
                    disk.write(off, chunk.clear());
                }
                base.flush();
            }
            try (Disk base = Disk.open(parent, OpenOptions.defaultReadOnly());
                 Image child = format.create(template, co.withParent(base, parent.toAbsolutePath()))) {
                child.flush();
            }
        } else {
            try (Image img = format.create(template, co)) {
                img.flush();
            }
        }
        Path counted = copyTemplate("counted");
        WriteFault.arm(Long.MAX_VALUE, WriteFault.Mode.DROP, false, 0);
        try {
            this.ends = workload.run(counted, counter());
        } finally {
            WriteFault.disarm();
        }
        Files.delete(counted);
    }

    /** Host writes, truncates and punches the whole workload makes (open to close). */
    long totalWrites() {
        return ends[ends.length - 1];
    }

    static CrashWorkload.WriteCounter counter() {
        return new CrashWorkload.WriteCounter() {
            @Override
            public long writes() {
                return WriteFault.writesSeen();
            }

            @Override
            public boolean stop() {
                return WriteFault.tripped();
            }
        };
    }

    Path copyTemplate(String name) throws IOException {
        Path p = dir.resolve(name + "." + target.extension());
        Files.deleteIfExists(p);
        Files.copy(template, p);
        return p;
    }

    /** The in-JVM kill: the first {@code allowed} writes land (write N+1 torn if asked), then the check. */
    void killInJvm(long allowed, boolean torn, long seed) throws IOException {
        Path img = copyTemplate("k" + allowed + (torn ? "t" : ""));
        WriteFault.arm(allowed, WriteFault.Mode.DROP, torn, seed);
        try {
            workload.run(img, counter());
        } catch (IOException | RuntimeException e) {
            if (!WriteFault.tripped()) {
                throw e; // failed before the crash: a plain bug
            }
            // after the crash the dying process may trip over its own lost writes: irrelevant
        } finally {
            WriteFault.disarm();
        }
        verifyAfterCrash(img, allowed, "kill at write " + (allowed + 1) + (torn ? " (torn)" : ""));
    }

    /** The real kill: a child JVM halts itself at write N+1 ({@link WriteFault#HALT_PROPERTY}). */
    void killChildJvm(long allowed, boolean torn, long seed, long workloadSeed, int ops)
            throws IOException, InterruptedException {
        Path img = copyTemplate("h" + allowed + (torn ? "t" : ""));
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-D" + WriteFault.HALT_PROPERTY + "=" + allowed + (torn ? ",torn" : ""),
                "-D" + WriteFault.SEED_PROPERTY + "=" + seed,
                "-cp", System.getProperty("java.class.path"),
                CrashChild.class.getName(), img.toString(), Long.toString(workloadSeed), Integer.toString(ops)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("child JVM did not halt in 120 s");
        }
        if (p.exitValue() != WriteFault.HALT_STATUS) {
            throw new AssertionError("child JVM exited " + p.exitValue() + ", not halted ("
                    + WriteFault.HALT_STATUS + "): " + out);
        }
        verifyAfterCrash(img, allowed, "child JVM halted at write " + (allowed + 1) + (torn ? " (torn)" : ""));
    }

    /**
     * Reopens read-write (the library repairs what the crash left), checks every sector against
     * the model, writes once more and closes, then asks qemu-img where it knows the format.
     */
    void verifyAfterCrash(Path img, long allowed, String what) throws IOException {
        String where = target.format() + " " + what + " of " + totalWrites() + ": ";
        Set<Long>[] allowedTags = workload.allowedTags(ends, allowed);
        Path dump = dir.resolve("dump.raw");
        try (Disk disk = Disk.open(img, OpenOptions.defaultReadWrite());
             FileChannel out = FileChannel.open(dump, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            for (long off = 0; off < VIRTUAL_SIZE; off += buf.capacity()) {
                buf.clear();
                disk.read(off, buf);
                buf.flip();
                for (int i = 0; i < buf.capacity(); i += CrashWorkload.SECTOR) {
                    int sector = (int) ((off + i) / CrashWorkload.SECTOR);
                    long tag = CrashWorkload.decode(buf.slice(i, CrashWorkload.SECTOR));
                    if (!allowedTags[sector].contains(tag)) {
                        throw new AssertionError(where + "sector " + sector + " reads "
                                + (tag == -1 ? "garbage" : "tag 0x" + Long.toHexString(tag))
                                + ", allowed " + hex(allowedTags[sector]));
                    }
                }
                out.write(buf, off);
            }
            // the repaired image takes writes again
            ByteBuffer again = ByteBuffer.allocate(CrashWorkload.SECTOR);
            CrashWorkload.fill(again, 0x7fL << 32);
            disk.write(0, again);
            out.write(again.flip(), 0);
        } catch (IOException e) {
            throw new AssertionError(where + "reopen failed: " + e, e);
        }
        qemuCheck(img, dump, where);
        Files.delete(dump);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith(
                    img.getFileName().toString())).toList()) {
                Files.delete(f);
            }
        }
    }

    private static String hex(Set<Long> tags) {
        return tags.stream().map(t -> "0x" + Long.toHexString(t)).toList().toString();
    }

    /** {@code qemu-img check} clean (exit 0) where qemu checks the format; {@code compare} equal. */
    void qemuCheck(Path img, Path dump, String where) throws IOException {
        if (!QemuImg.available() || parent != null && !QEMU_READS_CHILDREN.contains(target.format())) {
            return; // qemu has no VDI, VHD or VHDX differencing images
        }
        if (target.qemuChecks()) {
            QemuImg.Result r = QemuImg.run("check", "-f", target.qemuName(), img.toString());
            if (r.exit() != 0) {
                throw new AssertionError(where + "qemu-img check exit " + r.exit() + ": " + r.output());
            }
        }
        QemuImg.Result c = QemuImg.run("compare", "-f", target.qemuName(), "-F", "raw", img.toString(),
                dump.toString());
        if (c.exit() != 0) {
            throw new AssertionError(where + "qemu-img compare with our reading, exit " + c.exit() + ": "
                    + c.output());
        }
    }
}
