package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.DiskBytes;

/** Internal snapshots made by qemu-img snapshot -c: each one reads as qemu shows it after snapshot -a. */
class Qcow2SnapshotTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    /** What qemu shows for snapshot {@code name}: applied on a copy, converted to raw. */
    private byte[] qemuSnapshot(String image, String name) throws IOException {
        Files.copy(dir.resolve(image), dir.resolve("copy.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        img(dir, "snapshot", "-a", name, "copy.qcow2");
        byte[] b = QemuTools.qemuRaw(dir, "copy.qcow2");
        Files.delete(dir.resolve("copy.qcow2"));
        return b;
    }

    private byte[] ours(String image, String key) throws IOException {
        Image snap = new Qcow2Format().openSnapshot(dir.resolve(image), key, OpenOptions.defaultReadWrite());
        assertTrue(snap.readOnly(), "snapshots open read-only");
        try (Disk d = Disk.fromTop(snap, OpenOptions.defaultReadOnly())) {
            return DiskBytes.readAll(d);
        }
    }

    private void buildHistory(String image, String options, boolean backing) throws IOException {
        if (backing) {
            img(dir, "create", "-f", "raw", "base.raw", "8M");
            io(dir, "raw", "base.raw", "write -P 0x3c 0 8M");
            img(dir, "create", "-f", "qcow2", "-o", options, "-b", "base.raw", "-F", "raw", image);
        } else {
            img(dir, "create", "-f", "qcow2", "-o", options, image, "8M");
        }
        io(dir, "qcow2", image, "write -P 0x01 0 1M", "write -P 0x02 3000 70000");
        img(dir, "snapshot", "-c", "first", image);
        io(dir, "qcow2", image, "write -P 0x03 500000 1M", "write -z 0 64K", "discard 2M 1M");
        img(dir, "snapshot", "-c", "second", image);
        io(dir, "qcow2", image, "write -P 0x04 100 200", "write -P 0x05 7M 1M");
        if (!options.contains("0.10")) { // qemu cannot resize v2 images with snapshots
            img(dir, "resize", image, "12M");
            io(dir, "qcow2", image, "write -P 0x06 9M 100K");
        }
        img(dir, "snapshot", "-c", "third", image);
        io(dir, "qcow2", image, "write -P 0x07 0 8M");
    }

    @Test
    void everySnapshotMatchesQemu() throws IOException {
        for (String options : List.of("compat=1.1", "compat=0.10", "extended_l2=on,cluster_size=32k")) {
            for (boolean backing : List.of(false, true)) {
                String image = "h.qcow2";
                Files.deleteIfExists(dir.resolve(image));
                buildHistory(image, options, backing);
                for (String name : List.of("first", "second", "third")) {
                    DiskBytes.assertSame(qemuSnapshot(image, name), ours(image, name),
                            options + " backing=" + backing + " snapshot " + name);
                }
                DiskBytes.assertSame(qemuSnapshot(image, "first"), ours(image, "1"), "snapshot by id 1");
                QemuTools.assertSameAsQemu(dir, image);
            }
        }
    }

    @Test
    void snapshotsAreListedAndUnknownOnesRefused() throws IOException {
        buildHistory("l.qcow2", "compat=1.1", false);
        try (Disk d = Disk.open(dir.resolve("l.qcow2"), OpenOptions.defaultReadOnly())) {
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> snaps = (List<Map<String, Object>>) d.top().details().get("snapshots");
            assertEquals(List.of("first", "second", "third"), snaps.stream().map(m -> m.get("name")).toList());
            assertEquals(List.of("1", "2", "3"), snaps.stream().map(m -> m.get("id")).toList());
            assertEquals(8L << 20, snaps.get(0).get("disk_size_bytes"));
            assertEquals(12L << 20, snaps.get(2).get("disk_size_bytes"));
        }
        var e = assertThrows(VdException.class,
                () -> new Qcow2Format().openSnapshot(dir.resolve("l.qcow2"), "nope", OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("first"), e.getMessage());
        try (Image s = new Qcow2Format().openSnapshot(dir.resolve("l.qcow2"), "second", OpenOptions.defaultReadOnly())) {
            assertEquals(8L << 20, s.virtualSize());
            assertEquals("second", s.details().get("snapshot"));
        }
    }
}
