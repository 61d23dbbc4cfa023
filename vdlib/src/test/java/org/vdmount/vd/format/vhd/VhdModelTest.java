package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assertBytes;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * Random read/write/discard/flush sequences against a byte[] model (the tstVDIo idea), checked
 * after every read and after close/reopen.
 */
class VhdModelTest {
    static final int SIZE = 4 * 1024 * 1024 + 1536;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} layers={1} block={2} seed={3}")
    @CsvSource({"dynamic, 3, 128K, 1", "dynamic, 3, 4K, 2", "dynamic, 1, 64K, 3", "fixed, 1, '', 4"})
    void randomOperationsMatchTheModel(String subformat, int layers, String block, long seed) throws Exception {
        Random r = new Random(seed);
        byte[] model = new byte[SIZE];
        VhdFormat f = new VhdFormat();
        Path[] p = new Path[layers];
        for (int i = 0; i < layers; i++) {
            p[i] = dir.resolve("layer" + i + ".vhd");
            if (i == 0) {
                CreateOptions o = CreateOptions.of(SIZE).with("subformat", subformat);
                f.create(p[0], block.isEmpty() ? o : o.with("block_size", block)).close();
            } else {
                try (Disk parent = Disk.open(p[i - 1], OpenOptions.defaultReadOnly())) {
                    f.create(p[i], new CreateOptions(0, Map.of("block_size", block), parent, p[i - 1])).close();
                }
            }
            try (Disk d = Disk.open(p[i], OpenOptions.defaultReadWrite())) {
                for (int k = 0; k < 25; k++) {
                    write(d, model, r);
                }
            }
        }
        Disk d = Disk.open(p[layers - 1], OpenOptions.defaultReadWrite());
        assertEquals(layers, d.layers().size());
        try {
            for (int op = 0; op < 3000; op++) {
                int kind = r.nextInt(100);
                if (kind < 40) {
                    int off = r.nextInt(SIZE);
                    int len = Math.min(SIZE - off, 1 + r.nextInt(r.nextBoolean() ? 2000 : 300_000));
                    byte[] got = new byte[len];
                    d.read(off, ByteBuffer.wrap(got));
                    if (!Arrays.equals(model, off, off + len, got, 0, len)) {
                        int m = Arrays.mismatch(model, off, off + len, got, 0, len);
                        throw new AssertionError("op " + op + ": read 0x" + Integer.toHexString(off) + "+" + len
                                + " differs at 0x" + Integer.toHexString(off + m));
                    }
                } else if (kind < 80) {
                    write(d, model, r);
                } else if (kind < 93) {
                    int off = r.nextInt(SIZE);
                    int len = Math.min(SIZE - off, 1 + r.nextInt(r.nextBoolean() ? 600_000 : 5000));
                    d.discard(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                } else if (kind < 98) {
                    d.flush();
                } else {
                    d.close();
                    d = Disk.open(p[layers - 1], OpenOptions.defaultReadWrite());
                    assertBytes(model, VhdTestSupport.readAll(d, op), "after reopen at op " + op);
                }
            }
        } finally {
            d.close();
        }
        try (Disk ro = Disk.open(p[layers - 1], OpenOptions.defaultReadOnly())) {
            assertBytes(model, VhdTestSupport.readAll(ro, seed), "final reopen");
        }
    }

    private static void write(Disk d, byte[] model, Random r) throws Exception {
        int off = r.nextInt(SIZE);
        if (r.nextInt(4) == 0) {
            off &= ~511; // sector-aligned writes take the no-fill path
        }
        int len = Math.min(SIZE - off, 1 + r.nextInt(r.nextBoolean() ? 3000 : 400_000));
        byte[] data = new byte[len];
        if (r.nextInt(5) != 0) {
            r.nextBytes(data);
        }
        d.write(off, ByteBuffer.wrap(data));
        System.arraycopy(data, 0, model, off, len);
    }
}
