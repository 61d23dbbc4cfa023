package org.vdmount.vd.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The crash injector: N writes land, then nothing (DROP), or a sector-cut prefix of write N+1 (torn). */
class WriteFaultTest {
    @TempDir
    Path dir;

    @AfterEach
    void disarm() {
        WriteFault.disarm();
    }

    private static ByteBuffer filled(int len, int value) {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) value);
        return ByteBuffer.wrap(b);
    }

    @Test
    void dropsEveryWriteTruncateAndPunchAfterTheAllowedOnes() throws Exception {
        Path p = dir.resolve("f");
        try (FileStorage fs = FileStorage.create(p)) {
            WriteFault.arm(2, WriteFault.Mode.DROP, false, 1);
            fs.write(filled(512, 1), 0);
            fs.write(filled(512, 2), 512);
            assertFalse(WriteFault.tripped());
            ByteBuffer third = filled(512, 3);
            fs.write(third, 1024);
            assertFalse(third.hasRemaining(), "a dropped write still looks written to the caller");
            fs.truncate(100);
            fs.punchHole(0, 512);
            fs.force();
            assertTrue(WriteFault.tripped());
            assertEquals(5, WriteFault.writesSeen());
        }
        byte[] on = Files.readAllBytes(p);
        assertEquals(1024, on.length);
        assertEquals(1, on[0]);
        assertEquals(2, on[1023]);
    }

    @Test
    void tornWriteKeepsASectorAlignedPrefixOfTheFatalWriteOnly() throws Exception {
        boolean sawPartial = false;
        for (long seed = 0; seed < 40; seed++) {
            Path p = dir.resolve("t" + seed);
            int start = 100; // unaligned: the cuts fall on the file's sector boundaries 512, 1024, ...
            try (FileStorage fs = FileStorage.create(p)) {
                fs.write(filled(4096, 9), 0);
                WriteFault.arm(0, WriteFault.Mode.DROP, true, seed);
                fs.write(filled(3000, 7), start);
                fs.write(filled(100, 5), 0);
                WriteFault.disarm();
            }
            byte[] on = Files.readAllBytes(p);
            int firstOld = start;
            while (firstOld < start + 3000 && on[firstOld] == 7) {
                firstOld++;
            }
            assertTrue(firstOld == start || firstOld % 512 == 0, "cut at " + firstOld);
            assertTrue(firstOld < start + 3000, "the fatal write must not land whole");
            byte[] rest = Arrays.copyOfRange(on, firstOld, 4096);
            byte[] nines = new byte[rest.length];
            Arrays.fill(nines, (byte) 9);
            assertArrayEquals(nines, rest);
            assertEquals(9, on[0], "writes after the fatal one are dropped");
            sawPartial |= firstOld > start;
        }
        assertTrue(sawPartial, "some seed must keep a non-empty prefix");
    }

    @Test
    void disarmedWritesPass() throws Exception {
        Path p = dir.resolve("d");
        try (FileStorage fs = FileStorage.create(p)) {
            fs.write(filled(10, 4), 0);
        }
        assertEquals(0, WriteFault.writesSeen());
        assertEquals(10, Files.size(p));
    }
}
