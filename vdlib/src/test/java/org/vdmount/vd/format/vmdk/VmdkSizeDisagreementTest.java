package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;

/**
 * A descriptor whose extent size disagrees with the sparse header's capacity: one warning naming
 * both; more sectors than the extent holds read as zeros and make the image read-only (a write
 * there has no grain table to go to), fewer hide the rest.
 */
class VmdkSizeDisagreementTest {
    private static final int SIZE = 2 << 20;
    private static final int SECTORS = SIZE / 512;

    @TempDir
    Path dir;

    private final List<String> warnings = new ArrayList<>();

    @BeforeEach
    void tools() {
        Tools.need("qemu-img", "qemu-io");
    }

    private Path sparse() throws Exception {
        Tools.run(dir, "qemu-img", "create", "-f", "vmdk", "s.vmdk", String.valueOf(SIZE));
        Tools.run(dir, "qemu-io", "-f", "vmdk", "-c", "write -P 0x6b 0 " + SIZE, "s.vmdk");
        return dir.resolve("s.vmdk");
    }

    private Path descriptor(long sectors) throws Exception {
        Path p = dir.resolve("d" + sectors + ".vmdk");
        Files.writeString(p, "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
                + "createType=\"monolithicSparse\"\n\n# Extent description\nRW " + sectors + " SPARSE \"s.vmdk\"\n");
        return p;
    }

    private OpenOptions ro() {
        return OpenOptions.defaultReadOnly().withWarnings(warnings::add);
    }

    @Test
    void descriptorClaimingMoreThanTheCapacityIsWarnedAndReadOnly() throws Exception {
        sparse();
        Path d = descriptor(2L * SECTORS);
        try (Disk disk = Disk.open(d, ro())) {
            assertEquals(2L * SIZE, disk.size());
            byte[] all = Tools.readAll(disk);
            byte[] data = new byte[SIZE];
            Arrays.fill(data, (byte) 0x6b);
            assertArrayEquals(data, Arrays.copyOf(all, SIZE));
            assertArrayEquals(new byte[SIZE], Arrays.copyOfRange(all, SIZE, 2 * SIZE));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains(2L * SECTORS + " sectors") && warnings.get(0).contains(SECTORS + " sectors")
                && warnings.get(0).contains("s.vmdk"), warnings.get(0));
        VdException e = assertThrows(VdException.class, () -> Disk.open(d, OpenOptions.defaultReadWrite()).close());
        assertTrue(e.getMessage().contains("read-only"), e.getMessage());
    }

    @Test
    void descriptorClaimingLessThanTheCapacityIsWarned() throws Exception {
        sparse();
        try (Disk disk = Disk.open(descriptor(SECTORS / 2), ro())) {
            assertEquals(SIZE / 2, disk.size());
        }
        assertEquals(1, warnings.size(), warnings.toString());
        warnings.clear();
        try (Disk disk = Disk.open(descriptor(SECTORS), ro())) {
            assertEquals(SIZE, disk.size());
        }
        assertEquals(List.of(), warnings, "agreeing sizes say nothing");
    }

    @Test
    void embeddedDescriptorDisagreeingWithTheCapacityIsWarned() throws Exception {
        Path s = sparse();
        byte[] b = Files.readAllBytes(s);
        String text = new String(b, StandardCharsets.ISO_8859_1);
        int at = text.indexOf("RW " + SECTORS + " SPARSE");
        assertTrue(at > 0, "qemu's embedded descriptor");
        byte[] patched = ("RW " + (SECTORS - 8) + " SPARSE").getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(("RW " + SECTORS + " SPARSE").length(), patched.length);
        System.arraycopy(patched, 0, b, at, patched.length);
        Files.write(s, b);
        try (Disk disk = Disk.open(s, ro())) {
            assertEquals(SIZE, disk.size(), "the header's capacity");
        }
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains((SECTORS - 8) + " sectors"), warnings.get(0));
    }
}
