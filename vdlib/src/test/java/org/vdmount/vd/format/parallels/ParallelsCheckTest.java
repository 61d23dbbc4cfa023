package org.vdmount.vd.format.parallels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * {@code vd check} of Parallels image files against {@code qemu-img check} on the same files: clean,
 * leaked tail, left in use, entries outside the file; the counts and exit statuses agree, and our
 * repair leaves an image qemu-img calls clean.
 */
class ParallelsCheckTest {
    private static final int CS = 64 * 1024;

    @TempDir
    Path dir;
    private Path img;

    @BeforeEach
    void image() throws IOException {
        ExternalTools.assume("qemu-img", "qemu-io");
        img = dir.resolve("p.hds");
        ExternalTools.run(dir, "qemu-img", "create", "-q", "-f", "parallels", "-o", "cluster_size=64k", img.toString(), "8M");
        ExternalTools.run(dir, "qemu-io", "-f", "parallels", "-c", "write -P 1 0 200k", "-c", "write -P 2 3M 64k",
                img.toString());
    }

    private record Counts(long corruptions, long leaks, long allocated, long total, int exit) {
    }

    private Counts qemu() throws IOException {
        ExternalTools.Result r = ExternalTools.exec(dir, "qemu-img", "check", "--output=json", "-f", "parallels",
                img.toString());
        return new Counts(key(r.out(), "corruptions"), key(r.out(), "leaks"), key(r.out(), "allocated-clusters"),
                key(r.out(), "total-clusters"), r.exit());
    }

    private static long key(String json, String k) {
        Matcher m = Pattern.compile("\"" + k + "\": (\\d+)").matcher(json);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    private Counts ours(Path p, Repair repair) throws IOException {
        CheckReport r = FormatRegistry.require("parallels").checker().orElseThrow().check(p, repair);
        return new Counts(r.corruptions(), r.leaks(), r.allocatedClusters(), r.totalClusters(), r.exitStatus());
    }

    private void put32(int off, long v) throws IOException {
        byte[] b = Files.readAllBytes(img);
        Bytes.of(b).put32le(off, v);
        Files.write(img, b);
    }

    @Test
    void cleanAndLeakedImagesCountAsQemuCounts() throws IOException {
        assertEquals(qemu(), ours(img, Repair.NONE));
        assertEquals(0, qemu().exit());
        try (var f = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.WRITE)) {
            f.truncate(Files.size(img)).write(java.nio.ByteBuffer.allocate(1), Files.size(img) + 3 * CS);
        }
        assertEquals(3, qemu().exit());
        assertEquals(qemu(), ours(img, Repair.NONE));
        ours(img, Repair.LEAKS);
        assertEquals(0, qemu().exit());
    }

    @Test
    void uncleanImagesWithEntriesOutsideTheFileAreCorruptAndRepaired() throws IOException {
        put32(0x2C, ParallelsHeader.IN_USE);
        put32(0x40 + 4 * 50, 500);
        Counts q = qemu();
        assertEquals(2, q.exit());
        assertEquals(q, ours(img, Repair.NONE));
        Counts fixed = ours(img, Repair.ALL);
        assertEquals(0, fixed.exit());
        assertEquals(0, qemu().exit());
        assertEquals(qemu(), ours(img, Repair.NONE));
    }

    @Test
    void aBundleIsCheckedByItsTopImageFile() throws IOException {
        Path b = dir.resolve("b.hdd");
        FormatRegistry.require("parallels").create(b, org.vdmount.vd.CreateOptions.of(8 << 20)).close();
        assertEquals(0, ours(b, Repair.NONE).exit());
    }
}
