package org.vdmount.vd.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/** The VHDX fuzz target's input: patches over a template file kept on disk (see {@link FormatFuzzTest#vhdx}). */
final class VhdxPatch {
    private static final Path DIR = FuzzOracle.scratch("vhdx");
    private static final Path FILE = DIR.resolve("f.vhdx");
    private static final byte[] TEMPLATE = FormatFuzzTest.VHDX_TEMPLATE;
    /** The regions whose CRC-32C field (at +4) covers them: headers and region tables. */
    private static final int[][] SUMMED = {{64 << 10, 4096}, {128 << 10, 4096}, {192 << 10, 65536}, {256 << 10, 65536}};
    private static final byte[] WORK = TEMPLATE.clone();

    private VhdxPatch() {
    }

    static void run(FuzzedDataProvider in) throws IOException {
        if (!Files.exists(FILE)) {
            Files.write(FILE, TEMPLATE);
        }
        int len = TEMPLATE.length;
        if (in.consumeInt(0, 15) == 0) {
            len = in.consumeInt(0, TEMPLATE.length);
        }
        boolean fixSums = in.consumeBoolean();
        List<int[]> touched = new ArrayList<>();
        while (in.remainingBytes() > 2) {
            int page = in.consumeInt(0, TEMPLATE.length / 65536 - 1);
            int at = page * 65536 + in.consumeInt(0, 4095);
            byte[] patch = in.consumeBytes(in.consumeInt(1, 64));
            int n = Math.min(patch.length, TEMPLATE.length - at);
            System.arraycopy(patch, 0, WORK, at, n);
            touched.add(new int[] {at, n});
        }
        if (fixSums) {
            for (int[] r : SUMMED) {
                FormatFuzzTest.Checksums.crc32c(WORK, r[0], r[1]);
                touched.add(new int[] {r[0] + 4, 4});
            }
        }
        try (FileChannel ch = FileChannel.open(FILE, StandardOpenOption.WRITE)) {
            for (int[] t : touched) {
                ch.write(ByteBuffer.wrap(WORK, t[0], t[1]), t[0]);
            }
            if (len < TEMPLATE.length) {
                ch.truncate(len);
            }
        }
        try (Image img = FormatRegistry.require("vhdx").open(FILE, OpenOptions.defaultReadOnly())) {
            FuzzOracle.exercise(img);
        } finally {
            restore(touched, len);
        }
    }

    /** Puts the template's bytes back where this input changed them. */
    private static void restore(List<int[]> touched, int len) throws IOException {
        try (FileChannel ch = FileChannel.open(FILE, StandardOpenOption.WRITE)) {
            for (int[] t : touched) {
                System.arraycopy(TEMPLATE, t[0], WORK, t[0], t[1]);
                ch.write(ByteBuffer.wrap(WORK, t[0], t[1]), t[0]);
            }
            if (len < TEMPLATE.length) {
                ch.write(ByteBuffer.wrap(TEMPLATE, len, TEMPLATE.length - len), len);
            }
        }
    }
}
