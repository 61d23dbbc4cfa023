package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/** QEMU as the oracle: its images read byte-exact, our writes and our images pass its check. */
class VhdxQemuTest {
    private static final int SIZE = 64 * 1024 * 1024 + 3 * 4096; // a partial last block

    @TempDir
    Path dir;

    private Path qemuImage(String name, byte[] content, String opts) throws IOException {
        Path raw = dir.resolve(name + ".src.raw");
        Files.write(raw, content);
        Path img = dir.resolve(name + ".vhdx");
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", opts, raw.toString(), img.toString());
        return img;
    }

    private byte[] qemuRaw(Path img) throws IOException {
        Path out = dir.resolve(img.getFileName() + ".out.raw");
        Files.deleteIfExists(out);
        Tools.run("qemu-img", "convert", "-O", "raw", img.toString(), out.toString());
        return Files.readAllBytes(out);
    }

    @ParameterizedTest
    @CsvSource({"dynamic,1M,1M", "dynamic,32M,1M", "fixed,8M,1M", "dynamic,2M,4M", "fixed,1M,2M"})
    void qemuImagesReadByteExact(String sub, String block, String log) throws IOException {
        Tools.assume("qemu-img");
        byte[] content = Tools.sparseContent(SIZE, block.hashCode() ^ sub.hashCode());
        Path img = qemuImage("q", content, "subformat=" + sub + ",block_size=" + block + ",log_size=" + log);
        byte[] oracle = qemuRaw(img);
        assertArrayEquals(content, oracle, "qemu round trip");
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals("vhdx", d.top().format().name());
            assertEquals(sub, d.top().variant());
            assertEquals(oracle.length, d.size());
            assertArrayEquals(oracle, Tools.readAll(d));
            // unaligned reads across block boundaries
            Random r = new Random(7);
            for (int i = 0; i < 200; i++) {
                int len = 1 + r.nextInt(3 << 20);
                int off = r.nextInt(oracle.length - len);
                ByteBuffer b = ByteBuffer.allocate(len);
                d.read(off, b);
                assertArrayEquals(java.util.Arrays.copyOfRange(oracle, off, off + len), b.array());
            }
        }
    }

    @Test
    void qemuIoWrittenImageReads() throws IOException {
        Tools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve("io.vhdx");
        Tools.run("qemu-img", "create", "-f", "vhdx", "-o", "block_size=1M,log_size=1M", img.toString(), "16M");
        Tools.run("qemu-io", "-f", "vhdx", "-c", "write -P 0xab 1536k 100k", "-c", "write -P 0x11 0 512",
                "-c", "write -P 0x22 15M 1M", img.toString());
        byte[] oracle = qemuRaw(img);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(oracle, Tools.readAll(d));
        }
    }

    @ParameterizedTest
    @CsvSource({"dynamic,1M", "dynamic,32M", "fixed,2M"})
    void ourWritesIntoQemuImagesPassQemuCheckAndCompare(String sub, String block) throws IOException {
        Tools.assume("qemu-img");
        byte[] model = Tools.sparseContent(SIZE, 99);
        Path img = qemuImage("w", model, "subformat=" + sub + ",block_size=" + block);
        Random r = new Random(block.hashCode());
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
            for (int i = 0; i < 60; i++) {
                int len = 1 + r.nextInt(5 << 20);
                int off = r.nextInt(SIZE - len);
                byte[] data = Tools.random(len, i);
                if (i % 7 == 3) {
                    java.util.Arrays.fill(data, (byte) 0);
                }
                d.write(off, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, off, len);
                if (i % 10 == 9) {
                    d.flush();
                }
            }
            long bs = d.top().blockSize();
            d.discard(bs, bs); // a whole block
            java.util.Arrays.fill(model, (int) bs, (int) (2 * bs), (byte) 0);
            d.discard(bs / 2 + 5, 1000); // partial
            java.util.Arrays.fill(model, (int) (bs / 2 + 5), (int) (bs / 2 + 1005), (byte) 0);
            assertArrayEquals(model, Tools.readAll(d));
        }
        Tools.run("qemu-img", "check", "-f", "vhdx", img.toString());
        Path modelRaw = dir.resolve("model.raw");
        Files.write(modelRaw, model);
        Tools.run("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), modelRaw.toString());
        assertArrayEquals(model, qemuRaw(img));
    }

    /** Images we create (block_state_zero=on: every block PAYLOAD_BLOCK_ZERO, as qemu-img makes them). */
    @ParameterizedTest
    @CsvSource({"dynamic,1M,off", "dynamic,32M,off", "fixed,4M,off", "dynamic,256M,off", "dynamic,8M,on"})
    void ourImagesOpenInQemu(String sub, String block, String zeroBlocks) throws IOException {
        Tools.assume("qemu-img");
        Path img = dir.resolve("ours.vhdx");
        byte[] model = new byte[SIZE];
        Image created = FormatRegistry.require("vhdx").create(img, CreateOptions.of(SIZE)
                .with("subformat", sub).with("block_size", block).with("block_state_zero", zeroBlocks));
        if (zeroBlocks.equals("on")) {
            for (long at = 0; at < SIZE; ) {
                long run = created.map(at, SIZE - at);
                assertEquals(org.vdmount.vd.Allocation.ZERO, org.vdmount.vd.Run.kind(run), "block at " + at);
                at += org.vdmount.vd.Run.length(run);
            }
        }
        try (Disk d = Disk.of(java.util.List.of(created))) {
            Random r = new Random(3);
            for (int i = 0; i < 40; i++) {
                int len = 1 + r.nextInt(2 << 20);
                int off = r.nextInt(SIZE - len);
                byte[] data = Tools.random(len, 100 + i);
                d.write(off, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, off, len);
            }
        }
        String info = Tools.run("qemu-img", "info", "-f", "vhdx", img.toString());
        assertTrue(info.contains("(" + SIZE + " bytes)"), info);
        Tools.run("qemu-img", "check", "-f", "vhdx", img.toString());
        assertArrayEquals(model, qemuRaw(img));
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals(sub, d.top().variant());
            assertArrayEquals(model, Tools.readAll(d));
        }
    }

    @Test
    void blockStateZeroIsForDynamicImagesOnly() throws IOException {
        Path fixed = dir.resolve("f.vhdx");
        UnsupportedFeatureException e = org.junit.jupiter.api.Assertions.assertThrows(UnsupportedFeatureException.class,
                () -> FormatRegistry.require("vhdx").create(fixed, CreateOptions.of(SIZE).with("subformat", "fixed")
                        .with("block_state_zero", "on")));
        assertEquals("vhdx: block_state_zero=on applies to dynamic images (a fixed image's blocks are present)",
                e.getMessage());
        assertTrue(Files.notExists(fixed));
    }
}
