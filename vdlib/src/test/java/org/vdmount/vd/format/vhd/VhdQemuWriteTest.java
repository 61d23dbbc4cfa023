package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assertBytes;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assumeTool;
import static org.vdmount.vd.format.vhd.VhdTestSupport.ok;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** Our writes into dynamic VHDs made by qemu-img, checked by qemu-img check/compare/convert. */
class VhdQemuWriteTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void tools() {
        assumeTool("qemu-img");
    }

    @ParameterizedTest(name = "force_size={0} size={1} discards={2}")
    @CsvSource({"off, 9437184, false", "on, 9437777, false", "off, 12582912, true", "on, 6291456, true"})
    void writesReadBackInQemu(String forceSize, int size, boolean discards) throws Exception {
        String name = "w-" + forceSize + "-" + size + "-" + discards;
        Path raw = dir.resolve(name + ".src");
        Files.write(raw, VhdTestSupport.pattern(size, size));
        Path vhd = dir.resolve(name + ".vhd");
        ok("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=" + forceSize,
                raw.toString(), vhd.toString());
        byte[] model = VhdTestSupport.qemuRaw(vhd, dir);

        Random r = new Random(size);
        try (Disk d = Disk.open(vhd, OpenOptions.defaultReadWrite())) {
            assertEquals(model.length, d.size());
            for (int i = 0; i < 120; i++) {
                int off = r.nextInt(model.length);
                int len = Math.min(model.length - off, 1 + r.nextInt(i % 10 == 0 ? 5_000_000 : 70_000));
                if (discards && i % 7 == 3) {
                    d.discard(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                    continue;
                }
                byte[] data = new byte[len];
                r.nextBytes(data);
                d.write(off, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, off, len);
            }
            assertBytes(model, VhdTestSupport.readAll(d, 1), name + " before close");
        }
        Path expected = dir.resolve(name + ".expected");
        Files.write(expected, model);
        VhdTestSupport.qemuCheck(vhd);
        ok("qemu-img", "compare", "-f", "vpc", "-F", "raw", vhd.toString(), expected.toString());
        assertBytes(model, VhdTestSupport.qemuRaw(vhd, dir), name + " through qemu-img convert");
        try (Disk d = Disk.open(vhd, OpenOptions.defaultReadOnly())) {
            assertBytes(model, VhdTestSupport.readAll(d, 2), name + " reopened");
        }
    }
}
