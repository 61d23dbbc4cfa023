package org.vdmount.vd.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.storage.WriteFault;

/**
 * A kill during {@code vd check -r all}: the repair dies after its N-th host write, for every N,
 * half of the time with write N+1 torn ({@link WriteFault}, what kill -9 leaves behind). The image
 * must read what it read before the repair (read-only, so as found), a second repair must finish
 * the job (our check clean afterwards, and qemu-img check clean where qemu checks the format), and
 * the guest bytes must still be the same. The damage is what a real crash leaves: qemu-io killed
 * (abort) after its writes — a qcow2 with lazy refcounts left dirty (refcounts rebuilt), a QED with
 * its need-check bit set and a cluster the file gained but no table points at, a Parallels image not closed cleanly with its preallocated clusters
 * leaked — a VDI whose allocated-block count is stale (VirtualBox's crash between the block and
 * the header write), a VHD whose footer at the end is torn and a VMDK whose redundant grain table
 * lags its primary.
 */
class RepairCrashTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"qcow2", "qed", "parallels", "vdi", "vhd", "vmdk"})
    void aRepairKilledAtAnyWriteLeavesAnImageThatReadsTheSameAndRepairsLater(String format) throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path template = damaged(format);
        ImageChecker checker = FormatRegistry.require(format).checker().orElseThrow();
        CheckReport found = checker.check(template, Repair.NONE);
        assertTrue(found.exitStatus() != 0 || !found.findings().isEmpty(), format + ": no damage to repair: " + found);
        byte[] expected = GuestBytes.of(template, OpenOptions.defaultReadOnly());

        Path counted = copy(template, "counted." + format);
        long writes = repair(checker, counted, Long.MAX_VALUE, false);
        assertTrue(writes > 0, format + ": the repair writes");
        assertClean(checker, counted, format, expected, format + " undisturbed repair: ");
        for (long n = 0; n <= writes; n++) {
            for (boolean torn : new boolean[] {false, true}) {
                Path p = copy(template, "k." + format);
                repair(checker, p, n, torn);
                String where = format + " repair killed at write " + (n + 1) + (torn ? " (torn)" : "") + " of "
                        + writes + ": ";
                GuestBytes.assertSame(expected, GuestBytes.of(p, OpenOptions.defaultReadOnly()), where + "read-only: ");
                checker.check(p, Repair.ALL);
                assertClean(checker, p, format, expected, where + "repaired again: ");
            }
        }
        System.out.printf("repair crash %s: %d kill points over %d host writes%n", format, 2 * (writes + 1), writes);
    }

    /** A damaged image of {@code format}, as a crash leaves it (see the class comment). */
    private Path damaged(String format) throws IOException {
        Path p = dir.resolve("template." + format);
        switch (format) {
            case "qcow2" -> {
                tool("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", p.toString(),
                        Integer.toString(SIZE));
                killedQemuIo(format, p);
            }
            case "parallels" -> {
                tool("qemu-img", "create", "-q", "-f", format, p.toString(), Integer.toString(SIZE));
                killedQemuIo(format, p);
            }
            case "qed" -> {
                tool("qemu-img", "create", "-q", "-f", format, p.toString(), Integer.toString(SIZE));
                killedQemuIo(format, p);
                // and a cluster the file gained before its L2 entry was written: leaked
                byte[] cluster = new byte[64 << 10];
                Arrays.fill(cluster, (byte) 0x5d);
                Files.write(p, cluster, StandardOpenOption.APPEND);
            }
            case "vhd" -> {
                tool("qemu-img", "create", "-q", "-f", "vpc", p.toString(), Integer.toString(SIZE));
                tool("qemu-io", "-f", "vpc", "-c", "write -P 0xaa 0 3M", "-c", "write -P 0xab 5M 100k", p.toString());
                // the footer at the end damaged (VHD spec "Hard Disk Footer Format": its creator
                // application at 0x1c changed, so its checksum no longer matches); the copy at offset 0
                // is intact and the repair writes it back
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(new byte[] {'x', 'y', 'z', '!'}), ch.size() - 512 + 0x1c);
                }
            }
            case "vmdk" -> {
                tool("qemu-img", "create", "-q", "-f", "vmdk", p.toString(), Integer.toString(SIZE));
                tool("qemu-io", "-f", "vmdk", "-c", "write -P 0xaa 0 3M", "-c", "write -P 0xab 5M 100k", p.toString());
                // a kill between a grain table and its redundant copy (VMDK 5.0 "Hosted Sparse Extent
                // Header": rgdOffset at 0x30): the copy's first entry still says "not allocated"
                byte[] f = Files.readAllBytes(p);
                org.vdmount.vd.Bytes b = org.vdmount.vd.Bytes.of(f);
                long rgt = b.u32le((int) (b.u64le(0x30) * 512)) * 512;
                b.put32le((int) rgt, 0);
                Files.write(p, f);
            }
            default -> {
                tool("qemu-img", "create", "-q", "-f", "vdi", p.toString(), Integer.toString(SIZE));
                tool("qemu-io", "-f", "vdi", "-c", "write -P 0xaa 0 3M", "-c", "write -P 0xab 5M 100k", p.toString());
                // VDI 1.1 header (VirtualBox VDICore.h VDIHEADER1): cBlocksAllocated at 0x184, one short
                ByteBuffer count = ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    ch.read(count, 0x184);
                    count.flip();
                    int blocks = count.getInt(0);
                    assertEquals(4, blocks, "blocks qemu-io allocated");
                    count.putInt(0, blocks - 1);
                    ch.write(count, 0x184);
                }
            }
        }
        return p;
    }

    /** qemu-io writes, then aborts: a process death with the image open for writing. */
    private static void killedQemuIo(String format, Path p) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format, "-c", "write -P 0xaa 0 3M", "-c",
                "write -P 0xab 5M 100k", "-c", "write -z 1M 64k", "-c", "abort", p.toString()));
        ExternalTools.Result r = ExternalTools.exec(null, cmd.toArray(new String[0]));
        assertNotEquals(0, r.exit(), "qemu-io abort ends qemu-io");
    }

    private static void tool(String... cmd) throws IOException {
        ExternalTools.run(null, cmd);
    }

    /** Repairs ({@code -r all}) letting {@code allowed} host writes through; returns the writes seen. */
    private static long repair(ImageChecker checker, Path p, long allowed, boolean torn) throws IOException {
        return FaultedRun.dropAfter(allowed, torn, allowed * 31 + 7, () -> checker.check(p, Repair.ALL));
    }

    /** Our check finds nothing, qemu-img check (where it checks the format) neither; the bytes are the same. */
    private static void assertClean(ImageChecker checker, Path p, String format, byte[] expected, String where)
            throws IOException {
        CheckReport c = checker.check(p, Repair.NONE);
        assertEquals(0, c.exitStatus(), where + "vd check: " + c.findings());
        if (QemuImg.available() && !format.equals("vhd")) { // qemu has no VHD check
            QemuImg.Result q = QemuImg.run("check", "-f", format, p.toString());
            assertEquals(0, q.exit(), where + "qemu-img check: " + q.output());
        }
        GuestBytes.assertSame(expected, GuestBytes.of(p, OpenOptions.defaultReadOnly()), where);
    }

    private Path copy(Path template, String name) throws IOException {
        return Files.copy(template, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }
}
