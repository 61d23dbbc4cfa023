package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.vdmount.vd.Disk;
import org.vdmount.vd.ImageSnapshots;
import org.vdmount.vd.ImageSnapshots.Op;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.DiskBytes;

/**
 * vd snapshot -c/-a/-d cross-checked with qemu-img: qemu lists what we create and checks it
 * clean, applies it to the same bytes, and we apply and delete what qemu created.
 */
class Qcow2SnapshotChangeTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private String ours(Op op, String name) throws IOException {
        return ImageSnapshots.change(dir.resolve("a.qcow2"), null, op, name, OpenOptions.defaultReadOnly());
    }

    private String list() throws IOException {
        return img(dir, "snapshot", "-l", "a.qcow2");
    }

    private byte[] qemuApplied(String name) throws IOException {
        Files.copy(dir.resolve("a.qcow2"), dir.resolve("q.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        img(dir, "snapshot", "-a", name, "q.qcow2");
        QemuTools.assertClean(dir, "qcow2", "q.qcow2");
        return QemuTools.qemuRaw(dir, "q.qcow2");
    }

    @ParameterizedTest
    @ValueSource(strings = {"compat=1.1", "compat=0.10", "extended_l2=on,cluster_size=32k", "cluster_size=512"})
    void createApplyDeleteAgreeWithQemu(String options) throws IOException {
        img(dir, "create", "-q", "-f", "qcow2", "-o", options, "a.qcow2", "8M");
        io(dir, "qcow2", "a.qcow2", "write -P 0x11 0 1M", "write -P 0x12 3000 70000", "write -c -P 0x13 4M 128k");
        byte[] atS1 = QemuTools.qemuRaw(dir, "a.qcow2");
        assertEquals("1", ours(Op.CREATE, "s1"));
        assertTrue(list().contains("s1"), list());
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        assertThrows(VdException.class, () -> ours(Op.CREATE, "s1"), "a duplicate name is refused");
        if (!options.contains("0.10")) { // version 3: incompatible features at 0x48, dirty = bit 0
            assertEquals(0, Files.readAllBytes(dir.resolve("a.qcow2"))[0x4F] & 1, "a refusal leaves no dirty bit");
        }
        io(dir, "qcow2", "a.qcow2", "write -P 0x21 512k 1M", "write -z 0 64k", "discard 4M 64k",
                "write -P 0x22 7M 4k");
        byte[] later = QemuTools.qemuRaw(dir, "a.qcow2");
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        DiskBytes.assertSame(atS1, qemuApplied("s1"), "qemu applies our snapshot");
        try (Disk s = Disk.fromTop(new Qcow2Format().openSnapshot(dir.resolve("a.qcow2"), "s1",
                OpenOptions.defaultReadOnly()), OpenOptions.defaultReadOnly())) {
            DiskBytes.assertSame(atS1, DiskBytes.readAll(s), "we read our snapshot");
        }
        assertEquals("2", ours(Op.CREATE, "s2"));
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        assertEquals("1", ours(Op.APPLY, "s1"));
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        DiskBytes.assertSame(atS1, QemuTools.qemuRaw(dir, "a.qcow2"), "applied s1");
        QemuTools.assertSameAsQemu(dir, "a.qcow2");
        io(dir, "qcow2", "a.qcow2", "write -P 0x31 0 2M");
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        DiskBytes.assertSame(later, qemuApplied("s2"), "s2 survived the apply and the writes");
        assertEquals("1", ours(Op.DELETE, "s1"));
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        assertFalse(list().contains("s1"), list());
        assertEquals("2", ours(Op.DELETE, "2"));
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        assertEquals("", list().trim());
        QemuTools.assertSameAsQemu(dir, "a.qcow2");
        // with no snapshot left every cluster is the active image's alone: COPIED everywhere, no leak
        String map = img(dir, "check", "a.qcow2");
        assertTrue(map.contains("No errors"), map);
    }

    @Test
    void qemuSnapshotsAreAppliedAndDeletedByUsAndOursByQemu() throws IOException {
        img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "8M");
        io(dir, "qcow2", "a.qcow2", "write -P 0x41 0 2M");
        byte[] atQ = QemuTools.qemuRaw(dir, "a.qcow2");
        img(dir, "snapshot", "-c", "q1", "a.qcow2");
        io(dir, "qcow2", "a.qcow2", "write -P 0x42 1M 2M");
        byte[] atV = QemuTools.qemuRaw(dir, "a.qcow2");
        assertEquals("2", ours(Op.CREATE, "v1"));
        io(dir, "qcow2", "a.qcow2", "write -P 0x43 0 4M");
        assertEquals("1", ours(Op.APPLY, "q1"));
        DiskBytes.assertSame(atQ, QemuTools.qemuRaw(dir, "a.qcow2"), "we apply qemu's snapshot");
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        assertEquals("1", ours(Op.DELETE, "q1"));
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        img(dir, "snapshot", "-a", "v1", "a.qcow2");
        DiskBytes.assertSame(atV, QemuTools.qemuRaw(dir, "a.qcow2"), "qemu applies ours");
        img(dir, "snapshot", "-d", "v1", "a.qcow2");
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        assertEquals("", list().trim());
        assertThrows(VdException.class, () -> ours(Op.DELETE, "v1"), "an unknown snapshot is refused");
    }

    /** -a restores the snapshot's disk size, as qemu-img snapshot -a does. */
    @Test
    void applyRestoresTheRecordedSize() throws IOException {
        img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "8M");
        io(dir, "qcow2", "a.qcow2", "write -P 0x51 0 8M");
        byte[] at8 = QemuTools.qemuRaw(dir, "a.qcow2");
        ours(Op.CREATE, "small");
        org.vdmount.vd.ImageResize.resize(dir.resolve("a.qcow2"), null, "16M", false, OpenOptions.defaultReadOnly());
        io(dir, "qcow2", "a.qcow2", "write -P 0x52 4M 12M");
        byte[] qemuView = qemuApplied("small");
        assertEquals(8 << 20, qemuView.length, "qemu's apply gives the old size");
        ours(Op.APPLY, "small");
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        byte[] ourView = QemuTools.qemuRaw(dir, "a.qcow2");
        DiskBytes.assertSame(at8, ourView, "our apply: the old size and bytes");
        DiskBytes.assertSame(qemuView, ourView, "the same as qemu's apply");
    }

    /**
     * A snapshot whose L1 table is longer than the active one (the image was shrunk after it, by a
     * writer that allows that; made here by editing the header of an image whose active entries past
     * the new end are empty): -a grows the active table first, as qemu-img snapshot -a does.
     */
    @ParameterizedTest
    @ValueSource(strings = {"4k", "512"})
    void applyGrowsTheActiveTableToALongerSnapshotTable(String cluster) throws IOException {
        img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + cluster, "a.qcow2", "8M");
        io(dir, "qcow2", "a.qcow2", "write -P 0x61 0 24k");
        byte[] before = QemuTools.qemuRaw(dir, "a.qcow2");
        ours(Op.CREATE, "big");
        Path a = dir.resolve("a.qcow2");
        byte[] f = Files.readAllBytes(a);
        org.vdmount.vd.Bytes h = org.vdmount.vd.Bytes.of(f);
        long l1Before = h.u64be(0x28);
        int entries = (int) h.u32be(0x24);
        assertTrue(entries > 1, "8M needs more than one L1 entry: " + entries);
        // 32 KiB needs one L1 entry whatever the cluster size; the table keeps every cluster it holds
        int cs = 1 << h.u32be(0x14);
        int held = (entries * 8 + cs - 1) / cs;
        int shorter = (held - 1) * (cs / 8) + 1;
        assertTrue(shorter < entries);
        h.put64be(0x18, 32 << 10).put32be(0x24, shorter);
        Files.write(a, f);
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        io(dir, "qcow2", "a.qcow2", "write -P 0x62 0 4k");
        byte[] qemuView = qemuApplied("big");
        ours(Op.APPLY, "big");
        QemuTools.assertClean(dir, "qcow2", "a.qcow2");
        org.vdmount.vd.Bytes after = org.vdmount.vd.Bytes.of(Files.readAllBytes(a));
        assertEquals(entries, after.u32be(0x24), "the active table grew to the snapshot's");
        assertTrue(after.u64be(0x28) != l1Before, "in new clusters");
        byte[] ourView = QemuTools.qemuRaw(dir, "a.qcow2");
        DiskBytes.assertSame(before, ourView, "our apply: the snapshot's size and bytes");
        DiskBytes.assertSame(qemuView, ourView, "the same as qemu's apply");
        QemuTools.assertSameAsQemu(dir, "a.qcow2");
    }

    @Test
    void otherFormatsAreRefused() throws IOException {
        img(dir, "create", "-q", "-f", "vdi", "b.vdi", "1M");
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> ImageSnapshots.change(dir.resolve("b.vdi"), null, Op.CREATE, "x", OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().startsWith("snapshot -c is not supported by vdi"), e.getMessage());
    }
}
