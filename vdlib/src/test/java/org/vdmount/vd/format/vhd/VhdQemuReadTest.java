package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assertBytes;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assumeTool;
import static org.vdmount.vd.format.vhd.VhdTestSupport.ok;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;

/** Byte-exact reads of VHDs made by qemu-img, against qemu-img's own raw conversion. */
class VhdQemuReadTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void tools() {
        assumeTool("qemu-img");
    }

    @ParameterizedTest(name = "{0} force_size={1} size={2}")
    @CsvSource({
        "dynamic, off, 7345664",
        "dynamic, on, 7345765",
        "fixed, off, 7345664",
        "fixed, on, 7345765",
        "dynamic, off, 33554432",
        "dynamic, on, 3145728"})
    void readsLikeQemu(String subformat, String forceSize, int size) throws Exception {
        byte[] src = VhdTestSupport.pattern(size * 31L + subformat.hashCode(), size);
        String name = subformat + "-" + forceSize + "-" + size;
        Path raw = dir.resolve(name + ".raw");
        Files.write(raw, src);
        Path vhd = dir.resolve(name + ".vhd");
        ok("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=" + subformat + ",force_size=" + forceSize,
                raw.toString(), vhd.toString());
        byte[] expected = VhdTestSupport.qemuRaw(vhd, dir);

        assertEquals("vhd", FormatRegistry.probe(vhd).name());
        try (Disk d = Disk.open(vhd, OpenOptions.defaultReadOnly())) {
            assertEquals(subformat, d.top().variant());
            assertEquals(expected.length, d.size(), "virtual size as qemu-img reads it");
            assertBytes(expected, VhdTestSupport.readAll(d, size), name);
            // every byte of the source lies in a DATA run of the layer (zeros elsewhere)
            for (long off = 0; off < d.size(); ) {
                long run = d.top().map(off, d.size() - off);
                if (Run.kind(run) != Allocation.DATA) {
                    for (long i = off; i < off + Run.length(run); i++) {
                        if (expected[(int) i] != 0) {
                            throw new AssertionError("non-zero byte at 0x" + Long.toHexString(i) + " in a hole");
                        }
                    }
                }
                off += Run.length(run);
            }
        }
    }
}
