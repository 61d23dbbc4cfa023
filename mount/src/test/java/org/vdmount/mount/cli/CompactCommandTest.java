package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vd compact} through the CLI: sizes printed, qemu-img as the oracle, one-line refusals. */
class CompactCommandTest {
    @TempDir
    Path dir;

    @Test
    void compactsAQemuMadeQcow2AndPrintsBothSizes() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path img = dir.resolve("d.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "16M");
        // 1 MiB of data, 4 MiB of written zeros (allocated), 1 MiB of data at the end
        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 7 0 1M", "-c", "write -P 0 1M 4M",
                "-c", "write -P 9 5M 1M", img.toString());
        Path raw = dir.resolve("before.raw");
        Tools.run("qemu-img", "convert", "-O", "raw", img.toString(), raw.toString());
        long before = Files.size(img);

        Cli.Result r = Cli.vd("compact", img);
        assertEquals(0, r.exit(), r.toString());
        long after = Files.size(img);
        assertTrue(before - after >= (4L << 20) - (64 << 10), before + " -> " + after);
        assertTrue(r.out().contains("(" + before + " -> " + after + " bytes)"), r.toString());
        assertTrue(r.out().contains("64 block(s) freed"), r.toString());
        Tools.run("qemu-img", "compare", "-q", raw.toString(), img.toString());
        assertTrue(Tools.run("qemu-img", "check", img.toString()).contains("No errors"));

        Cli.Result again = Cli.vdOnTerminal("compact", img);
        assertEquals(0, again.exit(), again.toString());
        assertTrue(again.err().contains("100.0% [##############################] 16.0 MiB / 16.0 MiB")
                && again.err().endsWith("\n"), again.toString());
        assertTrue(again.out().contains("(" + after + " -> " + after + " bytes); 0 block(s) freed"), again.toString());

        Cli.Result shared = Cli.vd("compact", "-U", img);
        assertEquals(2, shared.exit(), shared.toString());
        assertTrue(shared.err().contains("--force-share cannot be used with compact"), shared.toString());
    }

    @Test
    void compactsAQemuMadeVmdk() throws Exception {
        compactsFourMiBOfWrittenZeros("vmdk", "d.vmdk", 64); // 64 KiB grains
        Path raw = dir.resolve("before.raw");

        Path stream = dir.resolve("s.vmdk");
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw.toString(),
                stream.toString());
        Cli.Result refused = Cli.vd("compact", stream);
        assertEquals(1, refused.exit(), refused.toString());
        assertEquals(1, refused.errLines().size(), refused.toString());
        assertTrue(refused.err().startsWith("vd: compact is not supported by vmdk for ")
                && refused.err().contains("s.vmdk: it is streamOptimized"), refused.toString());
    }

    /** QCOW version 1 from qemu: written zeros freed, the data behind them moved down, qemu reads the same. */
    @Test
    void compactsAQemuMadeQcow() throws Exception {
        Path img = qemuMade("qcow", "d.qcow", "write -P 7 0 1M", "write -P 0 1M 4M", "write -P 9 5M 1M",
                "write -c -P 0 8M 4k", "write -c -P 3 9M 4k");
        Path raw = dir.resolve("before.raw");
        long before = Files.size(img);

        Cli.Result r = Cli.vd("compact", img);
        assertEquals(0, r.exit(), r.toString());
        long after = Files.size(img);
        // 1024 clusters of zeros and one compressed cluster of zeros freed; left: the header cluster
        // (with the compressed cluster of 9M packed after the L1 table), four L2 tables, 512 data clusters
        assertEquals((1 + 4 + 512) * 4096L, after, before + " -> " + after);
        assertTrue(r.out().contains("(" + before + " -> " + after + " bytes)"), r.toString());
        assertTrue(r.out().contains("1025 block(s) freed, 0 made zero"), r.toString());
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow", raw.toString(), img.toString());

        Cli.Result again = Cli.vd("compact", img);
        assertTrue(again.out().contains("(" + after + " -> " + after + " bytes); 0 block(s) freed"), again.toString());
    }

    @Test
    void compactsAQemuMadeParallelsImage() throws Exception {
        compactsFourMiBOfWrittenZeros("parallels", "d.hds", 4); // 1 MiB clusters
    }

    /**
     * A 16 MiB image qemu made: 1 MiB of data, 4 MiB of written zeros (allocated), 1 MiB of data.
     * vd compact gives the 4 MiB back ({@code freed} blocks), qemu-img reads the same and checks it
     * clean, and a second run finds nothing.
     */
    private void compactsFourMiBOfWrittenZeros(String format, String name, int freed) throws Exception {
        Path img = qemuMade(format, name, "write -P 7 0 1M", "write -P 0 1M 4M", "write -P 9 5M 1M");
        Path raw = dir.resolve("before.raw");
        long before = Files.size(img);

        Cli.Result r = Cli.vd("compact", img);
        assertEquals(0, r.exit(), r.toString());
        long after = Files.size(img);
        assertEquals(4L << 20, before - after, before + " -> " + after);
        assertTrue(r.out().contains("(" + before + " -> " + after + " bytes)"), r.toString());
        assertTrue(r.out().contains("bytes); " + freed + " block(s) freed"), r.toString());
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", format, raw.toString(), img.toString());
        assertTrue(Tools.run("qemu-img", "check", "-f", format, img.toString()).contains("No errors"));

        Cli.Result again = Cli.vd("compact", img);
        assertEquals(0, again.exit(), again.toString());
        assertTrue(again.out().contains("(" + after + " -> " + after + " bytes); 0 block(s) freed"), again.toString());
    }

    @Test
    void aFormatWithoutCompactionIsRefusedInOneLine() throws Exception {
        // a LUKS container maps every guest byte to a fixed place: nothing sparse, nothing to compact
        Path pw = dir.resolve("pw");
        Files.writeString(pw, "compact-test-password\n");
        Path img = dir.resolve("d.luks");
        Cli.Result c = Cli.vd("create", "-f", "luks", "-o", "iter-time=10", "--password-file", pw, img, "1M");
        assertEquals(0, c.exit(), c.toString());
        byte[] content = Files.readAllBytes(img);
        Cli.Result r = Cli.vd("compact", "-f", "luks", "--password-file", pw, img);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("vd: compact is not supported by luks (") && r.err().contains("d.luks"),
                r.toString());
        assertEquals(-1, java.util.Arrays.mismatch(content, Files.readAllBytes(img)), "the file is untouched");

        Cli.Result missing = Cli.vd("compact", dir.resolve("none.vdi"));
        assertEquals(1, missing.exit(), missing.toString());
        assertTrue(missing.err().startsWith("vd: ") && missing.err().contains("none.vdi"), missing.toString());
    }

    @Test
    void listedInTheHelp() {
        Cli.Result r = Cli.vd("--help");
        assertTrue(r.out().contains("compact") && r.out().contains("vd compact disk.vdi"), r.toString());
    }

    /** A 16 MiB image qemu-img creates and qemu-io writes; its contents are kept in before.raw. */
    private Path qemuMade(String format, String name, String... writes) throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path img = dir.resolve(name);
        Tools.run("qemu-img", "create", "-q", "-f", format, img.toString(), "16M");
        java.util.List<String> io = new java.util.ArrayList<>(java.util.List.of("qemu-io", "-f", format));
        for (String w : writes) {
            io.add("-c");
            io.add(w);
        }
        io.add(img.toString());
        Tools.run(io.toArray(new String[0]));
        Tools.run("qemu-img", "convert", "-f", format, "-O", "raw", img.toString(),
                dir.resolve("before.raw").toString());
        return img;
    }
}
