package org.vdmount.vd.format.qed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * {@code vd check} of QED against {@code qemu-img check} on the same files: clean images, leaked
 * clusters, L2 entries past the end of the file, an L1 entry that names no table, a cluster named
 * twice — the corruption, leak, allocated and fragmented counts agree; the repair leaves an image
 * both call clean where QEMU's repair would.
 */
class QedCheckerTest {
    private static final int CS = 64 * 1024;

    @TempDir
    Path dir;
    private Path img;

    @BeforeEach
    void image() throws IOException {
        ExternalTools.assume("qemu-img", "qemu-io");
        img = dir.resolve("q.qed");
        ExternalTools.run(dir, "qemu-img", "create", "-q", "-f", "qed", img.toString(), "64M");
        ExternalTools.run(dir, "qemu-io", "-f", "qed", "-c", "write -P 1 0 200k", "-c", "write -P 2 3M 64k",
                "-c", "write -P 3 40M 1M", img.toString());
    }

    /** qemu-img check's counts: corruptions, leaks, allocated, fragmented, and its exit status. */
    private record Counts(long corruptions, long leaks, long allocated, long fragmented, int exit) {
    }

    private Counts qemu() throws IOException {
        ExternalTools.Result r = ExternalTools.exec(dir, "qemu-img", "check", "--output=json", "-f", "qed",
                img.toString());
        return new Counts(key(r.out(), "corruptions"), key(r.out(), "leaks"), key(r.out(), "allocated-clusters"),
                key(r.out(), "fragmented-clusters"), r.exit());
    }

    private static long key(String json, String k) {
        Matcher m = Pattern.compile("\"" + k + "\": (\\d+)").matcher(json);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    private Counts ours(Repair repair) throws IOException {
        CheckReport r = new QedChecker().check(img, repair);
        return new Counts(r.corruptions(), r.leaks(), r.allocatedClusters(), r.fragmentedClusters(), r.exitStatus());
    }

    private long u64(long at) throws IOException {
        byte[] b = new byte[8];
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(at);
            f.readFully(b);
        }
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    private void put64(long at, long v) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(at);
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }
    }

    private long l1() throws IOException {
        return u64(0x28);
    }

    @Test
    void aCleanImageCountsAsQemuCountsIt() throws IOException {
        byte[] before = Files.readAllBytes(img);
        Counts q = qemu();
        assertEquals(0, q.exit());
        assertEquals(q, ours(Repair.NONE));
        assertTrue(q.allocated() > 0 && q.fragmented() > 0, q.toString());
        assertEquals(java.util.Arrays.hashCode(before), java.util.Arrays.hashCode(Files.readAllBytes(img)));
    }

    @Test
    void leakedClustersAtTheEndAreCountedAndCutOff() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(f.length() + 3L * CS);
        }
        Counts q = qemu();
        assertEquals(3, q.leaks());
        assertEquals(q, ours(Repair.NONE));
        assertEquals(0, ours(Repair.LEAKS).leaks());
        assertEquals(0, qemu().exit(), "qemu-img check is clean after our repair");
    }

    @Test
    void anL2EntryPastTheEndIsACorruptionTheRepairClears() throws IOException {
        long table = u64(l1());
        put64(table + 8 * 4, Files.size(img) + 16L * CS); // cluster 4 of the first table: past the end
        Counts q = qemu();
        assertEquals(1, q.corruptions());
        assertEquals(q, ours(Repair.NONE));
        assertEquals(2, q.exit());
        Counts fixed = ours(Repair.ALL);
        assertEquals(0, fixed.corruptions());
        Counts after = qemu();
        assertEquals(0, after.corruptions(), "qemu-img check after our repair");
        ExternalTools.run(dir, "qemu-io", "-f", "qed", "-c", "read -P 1 0 200k", img.toString());
    }

    @Test
    void anL1EntryNamingNoTableIsACorruption() throws IOException {
        put64(l1() + 8 * 7, 12345); // not cluster aligned
        Counts q = qemu();
        assertEquals(1, q.corruptions());
        assertEquals(q.corruptions(), ours(Repair.NONE).corruptions());
        assertEquals(q.leaks(), ours(Repair.NONE).leaks());
    }

    @Test
    void aClusterNamedTwiceIsACorruptionAndItsOwnClusterLeaks() throws IOException {
        long table = u64(l1());
        long first = u64(table);
        put64(table + 8 * 48, first); // 3 MiB's cluster now names the cluster of offset 0
        Counts q = qemu();
        Counts ours = ours(Repair.NONE);
        assertTrue(q.corruptions() > 0 && q.leaks() > 0, q.toString());
        assertEquals(q.corruptions(), ours.corruptions());
        assertEquals(q.leaks(), ours.leaks());
        CheckReport r = new QedChecker().check(img, Repair.ALL);
        assertTrue(r.corruptions() > 0, "a cluster named twice is not repaired");
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("not repaired")), r.notes().toString());
    }
}
