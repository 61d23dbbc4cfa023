package org.vdmount.vd.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Disk;
import org.vdmount.vd.ImageInUseException;
import org.vdmount.vd.OpenOptions;

/** vd's locks against QEMU's own tools, in both directions: each refuses the other as QEMU refuses itself. */
class QemuLockInteropTest {
    private static final List<Long> WRITER_BYTES = List.of(100L, 101L, 103L, 201L, 203L);
    private static final List<Long> READER_BYTES = List.of(100L, 201L, 203L);

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Assumptions.assumeTrue(LockProcesses.onPath("qemu-io") && LockProcesses.onPath("qemu-img")
                && LockProcesses.onPath("python3"), "qemu-io, qemu-img or python3 absent");
    }

    private Path qcow2(String name) throws Exception {
        Path f = dir.resolve(name);
        LockProcesses.Result r = LockProcesses.run(List.of("qemu-img", "create", "-f", "qcow2", f.toString(), "1M"));
        assertEquals(0, r.exit(), r.output());
        return f;
    }

    private static LockProcesses.Result qemu(String... command) throws Exception {
        return LockProcesses.run(List.of(command));
    }

    @Test
    void aQemuWriterRefusesOurOpensUnlessTheShareIsForced() throws Exception {
        Path f = qcow2("w.qcow2");
        try (LockProcesses.Held q = LockProcesses.startHolding(f, 101, "qemu-io", "-c", "sleep 60000", f.toString())) {
            assertEquals(WRITER_BYTES, LockProcesses.lockedBytes(f), "qemu-io's writer bytes");
            ImageInUseException e = assertThrows(ImageInUseException.class,
                    () -> Disk.open(f, OpenOptions.defaultReadWrite()));
            assertEquals(f + ": in use by another process (it does not share the write permission; QEMU-style "
                    + "lock at byte 201); use --force-share to read it anyway", e.getMessage());
            e = assertThrows(ImageInUseException.class, () -> Disk.open(f, OpenOptions.defaultReadOnly()));
            assertEquals(f + ": in use by another process (it holds the write permission; QEMU-style "
                    + "lock at byte 101); use --force-share to read it anyway", e.getMessage());
            List<String> warnings = new ArrayList<>();
            try (Disk d = Disk.open(f, OpenOptions.defaultReadOnly().withWarnings(warnings::add).withForceShare(true))) {
                assertEquals(1 << 20, d.size());
                d.read(0, ByteBuffer.allocate(512));
            }
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).startsWith(f + ": opened with --force-share: no locks"), warnings.get(0));
        }
        Disk.open(f, OpenOptions.defaultReadWrite()).close();
    }

    @Test
    void ourWriterRefusesQemuWritersAndPlainReadersButNotForcedShares() throws Exception {
        Path f = qcow2("ours.qcow2");
        try (Disk d = Disk.open(f, OpenOptions.defaultReadWrite())) {
            d.write(0, ByteBuffer.wrap(new byte[] {1, 2, 3}));
            LockProcesses.Result w = qemu("qemu-io", "-c", "write 0 512", f.toString());
            assertNotEquals(0, w.exit(), w.output());
            assertTrue(w.output().contains("Failed to get \"write\" lock"), w.output());
            LockProcesses.Result info = qemu("qemu-img", "info", f.toString());
            assertNotEquals(0, info.exit(), info.output());
            assertTrue(info.output().contains("Failed to get shared \"write\" lock"), info.output());
            LockProcesses.Result shared = qemu("qemu-img", "info", "-U", f.toString());
            assertEquals(0, shared.exit(), shared.output());
            assertTrue(shared.output().contains("file format: qcow2"), shared.output());
            LockProcesses.Result read = qemu("qemu-io", "-r", "-U", "-c", "read 0 512", f.toString());
            assertEquals(0, read.exit(), read.output());
            LockProcesses.Result check = qemu("qemu-img", "check", "-U", f.toString());
            assertTrue(check.exit() == 0 || check.output().contains("leaked"), check.output());
        }
        LockProcesses.Result w = qemu("qemu-io", "-c", "write 0 512", f.toString());
        assertEquals(0, w.exit(), "free again once closed: " + w.output());
    }

    @Test
    void ourReadOnlyOpenRefusesQemuWritersOnly() throws Exception {
        Path f = qcow2("ro.qcow2");
        try (Disk d = Disk.open(f, OpenOptions.defaultReadOnly())) {
            assertEquals(READER_BYTES, LockProcesses.lockedBytes(f));
            LockProcesses.Result w = qemu("qemu-io", "-c", "write 0 512", f.toString());
            assertNotEquals(0, w.exit(), w.output());
            assertTrue(w.output().contains("Failed to get \"write\" lock"), w.output());
            LockProcesses.Result info = qemu("qemu-img", "info", f.toString());
            assertEquals(0, info.exit(), "readers share with readers: " + info.output());
            LockProcesses.Result read = qemu("qemu-io", "-r", "-c", "read 0 512", f.toString());
            assertEquals(0, read.exit(), read.output());
        }
    }

    @Test
    void aQemuReaderRefusesOurWriterButNotOurReader() throws Exception {
        Path f = qcow2("qr.qcow2");
        try (LockProcesses.Held q = LockProcesses.startHolding(f, 201, "qemu-io", "-r", "-c", "sleep 60000",
                f.toString())) {
            assertEquals(READER_BYTES, LockProcesses.lockedBytes(f), "qemu-io -r's reader bytes");
            ImageInUseException e = assertThrows(ImageInUseException.class,
                    () -> Disk.open(f, OpenOptions.defaultReadWrite()));
            assertTrue(e.getMessage().contains("does not share the write permission; QEMU-style lock at byte 201"),
                    e.getMessage());
            Disk.open(f, OpenOptions.defaultReadOnly()).close();
        }
    }

    @Test
    void aQemuStorageDaemonExportRefusesOurWriter() throws Exception {
        Assumptions.assumeTrue(LockProcesses.onPath("qemu-storage-daemon"), "qemu-storage-daemon absent");
        Path f = qcow2("exp.qcow2");
        Path sock = dir.resolve("nbd.sock");
        try (LockProcesses.Held q = LockProcesses.startHolding(f, 101, "qemu-storage-daemon",
                "--blockdev", "driver=file,node-name=file0,filename=" + f,
                "--blockdev", "driver=qcow2,node-name=fmt0,file=file0",
                "--nbd-server", "addr.type=unix,addr.path=" + sock,
                "--export", "type=nbd,id=exp0,node-name=fmt0,writable=on")) {
            ImageInUseException e = assertThrows(ImageInUseException.class,
                    () -> Disk.open(f, OpenOptions.defaultReadWrite()));
            assertTrue(e.getMessage().startsWith(f + ": in use by another process"), e.getMessage());
            assertThrows(ImageInUseException.class, () -> Disk.open(f, OpenOptions.defaultReadOnly()));
        }
    }

    @Test
    void everyFileOfTheChainIsLocked() throws Exception {
        Path base = qcow2("base.qcow2");
        Path top = dir.resolve("top.qcow2");
        assertEquals(0, qemu("qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                top.toString()).exit());
        Path data = dir.resolve("data.raw");
        Path withData = dir.resolve("ext.qcow2");
        LockProcesses.Result r = qemu("qemu-img", "create", "-f", "qcow2", "-o", "data_file=" + data,
                withData.toString(), "1M");
        assertEquals(0, r.exit(), r.output());
        try (Disk d = Disk.open(top, OpenOptions.defaultReadWrite());
             Disk e = Disk.open(withData, OpenOptions.defaultReadWrite())) {
            assertEquals(WRITER_BYTES, LockProcesses.lockedBytes(top), "the writable top");
            assertEquals(READER_BYTES, LockProcesses.lockedBytes(base), "its parent, read-only");
            assertEquals(WRITER_BYTES, LockProcesses.lockedBytes(data), "a qcow2 data file of a writable image");
            LockProcesses.Result w = qemu("qemu-io", "-c", "write 0 512", base.toString());
            assertNotEquals(0, w.exit(), "a parent must not change under us: " + w.output());
        }
        Path split = dir.resolve("split.vmdk");
        r = qemu("qemu-img", "create", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", split.toString(), "3G");
        assertEquals(0, r.exit(), r.output());
        try (Disk d = Disk.open(split, OpenOptions.defaultReadOnly())) {
            List<Path> files = d.top().files();
            assertEquals(3, files.size(), files.toString());
            for (Path p : files) {
                assertEquals(READER_BYTES, LockProcesses.lockedBytes(p), p.toString());
            }
            Path extent = dir.resolve("split-s002.vmdk");
            LockProcesses.Result w = qemu("qemu-io", "-f", "raw", "-c", "write 0 512", extent.toString());
            assertNotEquals(0, w.exit(), w.output());
            assertTrue(w.output().contains("Failed to get \"write\" lock"), w.output());
        }
    }
}
