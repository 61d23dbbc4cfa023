package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assumeTool;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;

/** The records against bytes written by qemu-img, and locator decoding. */
class VhdStructuresTest {
    @TempDir
    Path dir;

    @Test
    void footerAndHeaderRoundTripQemuBytes() throws Exception {
        assumeTool("qemu-img");
        Path img = dir.resolve("q.vhd");
        VhdTestSupport.ok("qemu-img", "create", "-q", "-f", "vpc", img.toString(), "100M");
        byte[] raw = Files.readAllBytes(img);
        Bytes tail = Bytes.of(raw).at(raw.length - VhdFooter.SIZE);
        VhdFooter f = VhdFooter.parse(tail);
        assertEquals("qemu", f.creatorApp());
        assertEquals(VhdFooter.TYPE_DYNAMIC, f.diskType());
        assertEquals(f.checksum(), VhdFooter.checksum(tail, VhdFooter.SIZE, VhdFooter.CHECKSUM_OFFSET));
        assertArrayEquals(tail.bytes(0, VhdFooter.SIZE), f.encode().bytes(0, VhdFooter.SIZE));
        Bytes hb = Bytes.of(raw).at((int) f.dataOffsetBytes());
        VhdDynamicHeader h = VhdDynamicHeader.parse(hb);
        assertEquals(2 << 20, h.blockSizeBytes());
        assertEquals(h.checksum(), VhdFooter.checksum(hb, VhdDynamicHeader.SIZE, VhdDynamicHeader.CHECKSUM_OFFSET));
        assertArrayEquals(hb.bytes(0, VhdDynamicHeader.SIZE), h.encode().bytes(0, VhdDynamicHeader.SIZE));
        assertEquals(512, VhdDynamicHeader.bitmapSizeBytes(2 << 20));
        assertEquals(512, VhdDynamicHeader.bitmapSizeBytes(512));
        assertEquals(2048, VhdDynamicHeader.bitmapSizeBytes(8 << 20)); // 16384 sectors
    }

    @Test
    void locatorsDecodePerPlatform() {
        assertEquals("..\\dir\\p.vhd", locator("W2ru", "..\\dir\\p.vhd".getBytes(StandardCharsets.UTF_16LE)));
        assertEquals("C:\\vms\\p.vhd", locator("W2ku", "C:\\vms\\p.vhd\0\0".getBytes(StandardCharsets.UTF_16LE)));
        assertEquals("/Users/a b/p.vhd", locator("MacX", "file://localhost/Users/a%20b/p.vhd".getBytes(StandardCharsets.UTF_8)));
        assertEquals("p.vhd", locator("Wi2r", "p.vhd\0".getBytes(StandardCharsets.ISO_8859_1)));
        assertEquals(-1, new VhdParentLocator("Mac ", 0, 0, 0).rank());
    }

    private static String locator(String code, byte[] data) {
        return new VhdParentLocator(code, 512, data.length, 0).decode(Bytes.of(data));
    }
}
