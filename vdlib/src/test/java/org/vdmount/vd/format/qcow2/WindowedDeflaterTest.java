package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * The Java fallback of qcow2 compression: what it makes inflates with zlib's 4 KiB window
 * (windowBits -12, QEMU's inflater; Python's zlib stands in for it) to the input; it never
 * matches further back than 4 KiB; data that does not fit the room given is refused.
 */
class WindowedDeflaterTest {
    @TempDir
    Path dir;

    @Test
    void itsOutputInflatesWithQemusWindow() throws Exception {
        ExternalTools.assume("python3");
        int cs = 65536;
        Random r = new Random(11);
        byte[] text = new byte[cs];
        StringBuilder t = new StringBuilder();
        while (t.length() < cs) {
            t.append("cluster ").append(r.nextInt(100)).append(" of the disk image\n");
        }
        System.arraycopy(t.toString().getBytes(StandardCharsets.US_ASCII), 0, text, 0, cs);
        byte[][] inputs = {text, repeated(r, 3000, cs), new byte[cs], Arrays.copyOf(text, 5000)};
        try (WindowedDeflater d = new WindowedDeflater()) {
            for (int k = 0; k < inputs.length; k++) {
                byte[] out = new byte[cs];
                int n = d.deflate(inputs[k], inputs[k].length, out, 0, inputs[k].length - 1);
                assertTrue(n > 0 && n < inputs[k].length, "input " + k + " shrinks: " + n);
                Files.write(dir.resolve("in" + k), inputs[k]);
                Files.write(dir.resolve("z" + k), Arrays.copyOf(out, n));
            }
            byte[] noise = new byte[cs];
            r.nextBytes(noise);
            assertEquals(-1, d.deflate(noise, cs, new byte[cs], 0, cs - 1), "random data does not shrink");
            // repeats 6000 bytes back lie past the window: a 32 KiB-window deflate would shrink this a lot
            assertEquals(-1, d.deflate(repeated(r, 6000, cs), cs, new byte[cs], 0, cs - 1), "no match beyond 4 KiB");
        }
        String script = "import sys, zlib\n"
                + "for k in range(4):\n"
                + "    z = zlib.decompressobj(-12)\n"
                + "    out = z.decompress(open(sys.argv[1] + '/z%d' % k, 'rb').read())\n"
                + "    assert z.eof and out == open(sys.argv[1] + '/in%d' % k, 'rb').read(), k\n"
                + "print('ok')\n";
        ExternalTools.Result res = ExternalTools.exec(dir, "python3", "-c", script, dir.toString());
        assertEquals(0, res.exit(), res.output());
        assertEquals("ok", res.out().strip());
    }

    /** {@code length} bytes of one random unit of {@code unit} bytes, repeated. */
    private static byte[] repeated(Random r, int unit, int length) {
        byte[] u = new byte[unit];
        r.nextBytes(u);
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = u[i % unit];
        }
        return b;
    }
}
