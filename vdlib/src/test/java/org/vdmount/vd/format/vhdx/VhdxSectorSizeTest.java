package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/**
 * A GPT made with 4096-byte sectors (fdisk -b 4096 on a raw file; sfdisk 2.38 has no sector-size
 * option and qemu-img cannot make or open 4 KiB-sector VHDX) copied into a VHDX with
 * logical_sector_size=4096: the sector size is reported and the bytes survive.
 */
class VhdxSectorSizeTest {
    @TempDir
    Path dir;

    @Test
    void gptWith4KSectorsInsideA4KVhdx() throws IOException {
        Tools.assume("fdisk");
        Path raw = dir.resolve("gpt4k.raw");
        int size = 32 * 1024 * 1024;
        Files.write(raw, new byte[size]);
        Tools.execWithInput("g\nn\n1\n\n+8M\nn\n2\n\n\nw\n", "fdisk", "-b", "4096", raw.toString());
        byte[] content = Files.readAllBytes(raw);
        assertEquals("EFI PART", new String(content, 4096, 8, StandardCharsets.US_ASCII), "GPT header at LBA 1 (4 KiB)");
        assertTrue(Tools.run("fdisk", "-l", "-b", "4096", raw.toString()).contains("gpt4k.raw2"));
        // a filesystem-like pattern inside partition 2 so the copy is not mostly zeros
        byte[] pattern = Tools.random(3 * 1024 * 1024, 5);
        System.arraycopy(pattern, 0, content, 2304 * 4096 + 4096, pattern.length);

        Path img = dir.resolve("disk4k.vhdx");
        Image created = FormatRegistry.require("vhdx").create(img, CreateOptions.of(size)
                .with("logical_sector_size", "4096").with("block_size", "1M"));
        try (Disk d = Disk.of(List.of(created))) {
            d.write(0, ByteBuffer.wrap(content));
        }
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals(4096, d.top().logicalSectorSize());
            assertEquals(4096, d.logicalSectorSize());
            assertArrayEquals(content, Tools.readAll(d));
        }
        if (Tools.have("vhdiinfo")) { // libvhdi as an independent reader of the sector size
            assertTrue(Tools.run("vhdiinfo", img.toString()).matches("(?s).*Bytes per sector\\s*: 4096 bytes.*"));
        }
        // a 512-byte-sector image of the same disk reports 512 and the same bytes
        Path img512 = dir.resolve("disk512.vhdx");
        Image c512 = FormatRegistry.require("vhdx").create(img512, CreateOptions.of(size));
        try (Disk d = Disk.of(List.of(c512))) {
            d.write(0, ByteBuffer.wrap(content));
            assertEquals(512, d.logicalSectorSize());
            assertTrue(Arrays.equals(content, Tools.readAll(d)));
        }
    }
}
