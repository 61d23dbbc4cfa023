package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** The header's virtual size and its L1 size must agree: an L1 too small for the size is refused, never clipped. */
class Qcow2SizeAgreementTest {
    @TempDir
    Path dir;

    @Test
    void l1TableTooSmallForTheVirtualSizeIsRefused() throws Exception {
        QemuTools.assumeQemu();
        QemuTools.img(dir, "create", "-f", "qcow2", "big.qcow2", "2G"); // 64 KiB clusters: 4 L1 entries
        Path p = dir.resolve("big.qcow2");
        byte[] b = Files.readAllBytes(p);
        Bytes.of(b).put32be(0x24, 1);
        Files.write(p, b);
        for (OpenOptions o : new OpenOptions[] {OpenOptions.defaultReadOnly(), OpenOptions.defaultReadWrite()}) {
            CorruptImageException e = assertThrows(CorruptImageException.class, () -> Disk.open(p, o).close());
            assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("l1_size 1 < 4")
                    && e.getMessage().contains("0x24"), e.getMessage());
        }
    }
}
