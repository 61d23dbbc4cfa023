package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** The metadata's virtual size must fit the BAT region: a size the BAT cannot map is refused, never clipped. */
class VhdxSizeAgreementTest {
    @TempDir
    Path dir;

    @Test
    void virtualSizeLargerThanTheBatRegionCanMapIsRefused() throws Exception {
        Tools.assume("qemu-img");
        Tools.run("qemu-img", "create", "-f", "vhdx", dir.resolve("v.vhdx").toString(), "8M");
        Path p = dir.resolve("v.vhdx");
        byte[] b = Files.readAllBytes(p);
        Bytes v = Bytes.of(b);
        String text = new String(b, StandardCharsets.ISO_8859_1);
        int region = text.indexOf("metadata", 0x30000); // the metadata region starts with its signature
        assertTrue(region > 0, "metadata region");
        UUID id = Vhdx.VIRTUAL_DISK_SIZE;
        int entry = -1;
        for (int e = region + 32; e < region + 32 + 32 * 16; e += 32) {
            if (v.u32le(e) == id.getMostSignificantBits() >>> 32) { // Data1 of the mixed-endian GUID
                entry = e;
                break;
            }
        }
        assertTrue(entry > 0, "virtual disk size item");
        int item = region + (int) v.u32le(entry + 16);
        assertEquals(8L << 20, v.u64le(item));
        v.put64le(item, 64L << 40); // 64 TiB: far more entries than the region holds
        Files.write(p, b);
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> Disk.open(p, OpenOptions.defaultReadOnly()).close());
        assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("BAT region")
                && e.getMessage().contains("do not fit"), e.getMessage());
    }
}
