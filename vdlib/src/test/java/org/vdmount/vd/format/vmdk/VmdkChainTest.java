package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.ChainException;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.conformance.ModelRun;
import java.util.Random;

/** Snapshot chains: qemu-made ones read by us, ours read by qemu-img and libvmdk's vmdkmount. */
class VmdkChainTest {
    private static final int SIZE = 4 * 1024 * 1024;

    @TempDir
    Path dir;

    private Path qemuBase(String name, long seed) throws IOException {
        Path src = dir.resolve(name + ".raw");
        Files.write(src, Tools.source(SIZE, seed));
        Path img = dir.resolve(name + ".vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", src.toString(), img.toString());
        return img;
    }

    @Test
    void readsQemuMadeThreeLevelChains() throws IOException {
        Tools.need("qemu-img", "qemu-io");
        Path base = qemuBase("base", 1);
        Tools.run(dir, "qemu-img", "create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", "c1.vmdk");
        Tools.run(dir, "qemu-io", "-c", "write -P 0xab 100k 70k", "-c", "write -P 0x11 1M 64k",
                "-c", "write -P 0x33 4095k 1k", dir.resolve("c1.vmdk").toString());
        Tools.run(dir, "qemu-img", "create", "-f", "vmdk", "-o", "zeroed_grain=on", "-b", "c1.vmdk", "-F", "vmdk",
                "c2.vmdk");
        Tools.run(dir, "qemu-io", "-c", "write -P 0xcd 130k 10k", "-c", "write -z 1M 64k",
                "-c", "write -z 2M 128k", dir.resolve("c2.vmdk").toString());
        Path oracle = Tools.qemuRaw(dir.resolve("c2.vmdk"), "oracle.raw");
        try (Disk d = Disk.open(dir.resolve("c2.vmdk"), OpenOptions.defaultReadOnly())) {
            assertEquals(3, d.layers().size());
            ParentReference p = d.top().parent();
            assertEquals(List.of("c1.vmdk"), p.locators());
            assertEquals("vmdk", p.formatHint());
            assertEquals(d.layers().get(1).linkUuid(), p.uuid());
            assertNull(d.layers().get(0).parent());
            Tools.assertSameAsFile(d, oracle);
        }
        assertTrue(Files.exists(base));
    }

    /**
     * Our children of a qemu base and of our own child; checked by qemu-img, and by vmdkmount up
     * to the child without zeroed grains (libvmdk 20200926 reads a zeroed grain, entry 1, as the
     * grain at sector 1: the descriptor's text).
     */
    @Test
    void ourChildrenReadTheSameInQemuAndVmdkmount() throws IOException {
        Tools.need("qemu-img");
        qemuBase("base", 2);
        byte[] model = Files.readAllBytes(dir.resolve("base.raw"));
        createChild("base.vmdk", "c1.vmdk", CreateOptions.of(0));
        try (Disk d = Disk.open(dir.resolve("c1.vmdk"), OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(5), 300);
        }
        byte[] c1Model = model.clone();
        createChild("c1.vmdk", "c2.vmdk", CreateOptions.of(0).with("zeroed_grain", "on"));
        try (Disk d = Disk.open(dir.resolve("c2.vmdk"), OpenOptions.defaultReadWrite())) {
            assertEquals(3, d.layers().size());
            ModelRun.scribble(d, model, new Random(6), 300);
            assertArrayEquals(model, Tools.readAll(d));
        }
        for (String img : new String[] {"c1.vmdk", "c2.vmdk"}) {
            Tools.qemuCheck(dir.resolve(img));
        }
        Path modelRaw = dir.resolve("model.raw");
        Files.write(modelRaw, model);
        Tools.qemuCompare(modelRaw, dir.resolve("c2.vmdk"));
        assertArrayEquals(c1Model, vmdkmountTop(dir.resolve("c2.vmdk"), 2), "vmdkmount's view of c1");
    }

    private void createChild(String parent, String child, CreateOptions opts) throws IOException {
        try (Disk p = Disk.open(dir.resolve(parent), OpenOptions.defaultReadOnly());
             Image c = new VmdkFormat().create(dir.resolve(child), opts.withParent(p, Path.of(parent)))) {
            assertEquals(p.top().linkUuid(), c.parent().uuid());
            assertEquals(List.of(parent), c.parent().locators());
            assertEquals(p.size(), c.virtualSize());
        }
    }

    /** The top layer's bytes as libvmdk's vmdkmount shows them (vmdk1 = base ... vmdkN = top). */
    private byte[] vmdkmountTop(Path image, int layers) throws IOException {
        byte[] b = Tools.vmdkmount(image, layers);
        if (b == null) {
            org.junit.jupiter.api.Assumptions.abort("vmdkmount/FUSE not available");
        }
        return b;
    }

    @Test
    void parentCidMismatchIsAChainErrorUnlessOverridden() throws IOException {
        Tools.need("qemu-img");
        qemuBase("base", 3);
        createChild("base.vmdk", "c.vmdk", CreateOptions.of(0));
        try (Disk b = Disk.open(dir.resolve("base.vmdk"), OpenOptions.defaultReadWrite())) {
            b.write(0, ByteBuffer.wrap(new byte[] {1, 2, 3})); // renews the base's CID
        }
        ChainException e = assertThrows(ChainException.class,
                () -> Disk.open(dir.resolve("c.vmdk"), OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("mismatch"), e.getMessage());
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(dir.resolve("c.vmdk"),
                OpenOptions.defaultReadOnly().withIgnoreParentUuid(true).withWarnings(warnings::add))) {
            assertEquals(2, d.layers().size());
            byte[] first = new byte[3];
            d.read(0, ByteBuffer.wrap(first));
            assertArrayEquals(new byte[] {1, 2, 3}, first);
        }
        assertEquals(1, warnings.size(), warnings.toString());
    }

    @Test
    void cidsMapIntoUuidsAsDocumented() throws IOException {
        Tools.need("qemu-img");
        Path base = qemuBase("base", 4);
        String text = new String(Files.readAllBytes(base), java.nio.charset.StandardCharsets.ISO_8859_1);
        int i = text.indexOf("\nCID=") + 5;
        long cid = Long.parseLong(text.substring(i, text.indexOf('\n', i)), 16);
        try (Disk d = Disk.open(base, OpenOptions.defaultReadOnly())) {
            assertEquals(new UUID(0, cid), d.top().linkUuid());
        }
    }

    /** Discard in a child never uncovers the parent's data, with or without zeroed-grain entries. */
    @Test
    void discardInAChildHidesTheParent() throws IOException {
        Tools.need("qemu-img");
        qemuBase("base", 5);
        for (String zg : new String[] {"off", "on"}) {
            String child = "d-" + zg + ".vmdk";
            createChild("base.vmdk", child, CreateOptions.of(0).with("zeroed_grain", zg));
            try (Disk d = Disk.open(dir.resolve(child), OpenOptions.defaultReadWrite())) {
                d.write(65536 + 100, ByteBuffer.wrap(new byte[] {9, 9, 9}));
                d.discard(0, 4 * 65536);
                d.discard(10 * 65536 + 1000, 3 * 65536); // partial grains at both ends
                byte[] got = new byte[14 * 65536];
                d.read(0, ByteBuffer.wrap(got));
                assertArrayEquals(new byte[4 * 65536], Arrays.copyOfRange(got, 0, 4 * 65536));
                assertArrayEquals(new byte[3 * 65536], Arrays.copyOfRange(got, 10 * 65536 + 1000, 13 * 65536 + 1000));
            }
            Path oracle = Tools.qemuRaw(dir.resolve(child), "o-" + zg + ".raw");
            try (Disk d = Disk.open(dir.resolve(child), OpenOptions.defaultReadOnly())) {
                Tools.assertSameAsFile(d, oracle);
            }
        }
    }

    @Test
    void onlySparseSubformatsTakeAParent() throws IOException {
        Tools.need("qemu-img");
        qemuBase("base", 6);
        try (Disk p = Disk.open(dir.resolve("base.vmdk"), OpenOptions.defaultReadOnly())) {
            for (String sub : new String[] {"monolithicFlat", "streamOptimized"}) {
                assertThrows(UnsupportedFeatureException.class, () -> new VmdkFormat().create(dir.resolve("x.vmdk"),
                        CreateOptions.of(0).with("subformat", sub).withParent(p, Path.of("base.vmdk"))));
            }
        }
    }
}
