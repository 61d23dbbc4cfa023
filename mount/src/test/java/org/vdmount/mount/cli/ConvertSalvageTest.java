package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vd convert --salvage} against {@code qemu-img convert --salvage} on a compressed qcow2
 * two of whose clusters no longer inflate: without the option the copy fails in one line and DST
 * is deleted; with it DST is qemu-img's salvaged copy byte for byte (the bad clusters zeros) and
 * one warning names each bad range.
 */
class ConvertSalvageTest {
    @TempDir
    Path dir;

    private Path damaged;
    private Path theirs;

    @BeforeEach
    void damagedImage() throws Exception {
        Tools.require("qemu-img");
        Path raw = dir.resolve("src.raw");
        byte[] data = new byte[4 << 20];
        Arrays.fill(data, (byte) 0x61);
        byte[] noise = new byte[1 << 20];
        new Random(3).nextBytes(noise);
        System.arraycopy(noise, 0, data, 1 << 20, noise.length); // stored plain: does not shrink
        Files.write(raw, data);
        damaged = dir.resolve("damaged.qcow2");
        Tools.run("qemu-img", "convert", "-c", "-O", "qcow2", raw.toString(), damaged.toString());
        spoilCompressed(damaged, 0);
        spoilCompressed(damaged, 40);
        theirs = dir.resolve("theirs.raw");
        Tools.exec(List.of("qemu-img", "convert", "--salvage", "-O", "raw", damaged.toString(), theirs.toString()));
        assertTrue(Files.exists(theirs), "qemu-img convert --salvage");
    }

    /** Overwrites the start of guest cluster {@code index}'s deflate data (qcow2.txt "Compressed Clusters Descriptor"). */
    private static void spoilCompressed(Path qcow2, int index) throws Exception {
        try (FileChannel ch = FileChannel.open(qcow2, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer h = ByteBuffer.allocate(48);
            ch.read(h, 0);
            int clusterBits = h.getInt(20);
            long l2 = read64(ch, h.getLong(40)) & 0x00ff_ffff_ffff_fe00L;
            long entry = read64(ch, l2 + 8L * index);
            assertTrue((entry & (1L << 62)) != 0, "cluster " + index + " is compressed");
            long host = entry & ((1L << (62 - (clusterBits - 8))) - 1);
            byte[] junk = new byte[16];
            Arrays.fill(junk, (byte) 0xff);
            ch.write(ByteBuffer.wrap(junk), host);
        }
    }

    private static long read64(FileChannel ch, long at) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(8);
        ch.read(b, at);
        return b.getLong(0);
    }

    @Test
    void withoutSalvageTheCopyFailsAndLeavesNothing() throws Exception {
        Path out = dir.resolve("out.raw");
        Cli.Result r = Cli.vd("convert", damaged, out);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().contains("corrupt compressed cluster"), r.toString());
        assertFalse(Files.exists(out));
    }

    @Test
    void salvageWritesWhatQemuImgSalvagesAndNamesEachBadRange() throws Exception {
        byte[] expected = Files.readAllBytes(theirs);
        for (List<String> how : List.of(List.of("-O", "raw"), List.of("-O", "qcow2", "-m", "4", "-W"),
                List.of("-O", "qcow2", "-c"))) {
            Path out = dir.resolve("out-" + how.size() + "." + how.get(1));
            List<Object> args = new java.util.ArrayList<>(List.of("convert", "--salvage"));
            args.addAll(how);
            args.addAll(List.of(damaged, out));
            Cli.Result r = Cli.vd(args.toArray());
            assertEquals(0, r.exit(), how + ": " + r);
            List<String> warnings = r.errLines();
            assertEquals(2, warnings.size(), r.toString());
            assertTrue(warnings.get(0).startsWith("vd: warning: " + damaged + ": bytes 0-65535 could not be read and "
                    + "were written as zeros (qcow2: corrupt compressed cluster"), warnings.get(0));
            assertTrue(warnings.get(1).startsWith("vd: warning: " + damaged + ": bytes 2621440-2686975 could not"),
                    warnings.get(1));
            Path plain = dir.resolve("plain-" + how.size() + ".raw");
            Tools.run("qemu-img", "convert", "-O", "raw", out.toString(), plain.toString());
            assertTrue(Arrays.equals(expected, Files.readAllBytes(plain)), how + ": qemu-img convert --salvage's bytes");
        }
    }
}
