package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.OracleRunner;
import org.vdmount.vd.nativeio.HostFiles;

/**
 * qcow2 {@code preallocation} (metadata, falloc, full) and {@code lazy_refcounts} at create time,
 * checked against qemu-img: check finds every cluster allocated and nothing wrong, map shows
 * every cluster mapped, the file is as large as {@code qemu-img measure}'s "fully allocated size",
 * and small metadata-preallocated images are qemu-img create's file byte for byte.
 */
class Qcow2PreallocationTest {
    private static final long SIZE = (50 << 20) + 12288;
    private static final Pattern ALLOCATED = Pattern.compile("(\\d+)/(\\d+) = 100\\.00% allocated");

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private Path create(String name, long size, String options) throws IOException {
        CreateOptions co = CreateOptions.of(size);
        for (String kv : options.split(",")) {
            co = co.with(kv.split("=")[0], kv.split("=")[1]);
        }
        Path p = dir.resolve(name);
        new Qcow2Format().create(p, co).close();
        return p;
    }

    /** qemu-img measure's fully allocated size for the same options. */
    private long measuredFull(long size, String options) throws IOException {
        String out = img(dir, "measure", "-O", "qcow2", "--size", Long.toString(size), "-o", options);
        Matcher m = Pattern.compile("fully allocated size: (\\d+)").matcher(out);
        assertTrue(m.find(), out);
        return Long.parseLong(m.group(1));
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource(delimiter = ';', value = {
        "metadata;cluster_size=64K", "falloc;cluster_size=64K", "full;cluster_size=64K",
        "metadata;compat=0.10", "metadata;cluster_size=512", "metadata;cluster_size=512,refcount_bits=1",
        "full;cluster_size=4K,refcount_bits=64", "metadata;cluster_size=2M", "falloc;extended_l2=on",
        "metadata;extended_l2=on,cluster_size=16K", "full;cluster_size=1K,refcount_bits=4"})
    void everyClusterIsMappedAndWritesLandInPlace(String mode, String options) throws IOException {
        String all = "preallocation=" + mode + "," + options;
        Path p = create("p.qcow2", SIZE, all);
        QemuTools.assertClean(dir, "qcow2", "p.qcow2");
        String check = img(dir, "check", "p.qcow2");
        Matcher m = ALLOCATED.matcher(check);
        assertTrue(m.find(), "every cluster allocated:\n" + check);
        long cs = org.vdmount.vd.Sizes.parse(options.contains("cluster_size=")
                ? options.replaceAll(".*cluster_size=([^,]+).*", "$1") : "64K");
        assertEquals((SIZE + cs - 1) / cs, Long.parseLong(m.group(1)), check);
        long fileSize = Files.size(p);
        assertEquals(measuredFull(SIZE, all), fileSize, "qemu-img measure's fully allocated size");

        long dataBytes = SIZE / cs * cs;
        long onDisk = HostFiles.allocatedBytes(p);
        if (mode.equals("metadata")) {
            assertTrue(onDisk < dataBytes / 4, "metadata leaves the data a hole: " + onDisk);
        } else {
            assertTrue(onDisk >= dataBytes, mode + " reserves the data area: " + onDisk + " < " + dataBytes);
        }
        String map = img(dir, "map", "--output=json", "p.qcow2");
        boolean ext = options.contains("extended_l2=on");
        for (String line : map.split("\n")) {
            if (line.contains("\"start\"")) {
                assertTrue(line.contains("\"offset\""), "every cluster mapped: " + map);
                // extended L2: the clusters are reserved and their subclusters unallocated, as qemu leaves them
                assertTrue(line.contains("\"data\": " + !ext), map);
            }
        }
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
            DiskBytes.assertSame(new byte[(int) SIZE], DiskBytes.readAll(d), "reads as zeros");
        }

        byte[] model = new byte[(int) SIZE];
        Random rnd = new Random(options.hashCode() + mode.hashCode());
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
            for (int i = 0; i < 40; i++) {
                int len = 1 + rnd.nextInt(200_000);
                int off = rnd.nextInt((int) SIZE - len);
                byte[] data = new byte[len];
                rnd.nextBytes(data);
                System.arraycopy(data, 0, model, off, len);
                d.write(off, ByteBuffer.wrap(data));
            }
        }
        assertEquals(fileSize, Files.size(p), "the writes went into the preallocated clusters");
        OracleRunner.verify(Oracle.qemu("qcow2"), List.of(p), model);
        QemuTools.assertClean(dir, "qcow2", "p.qcow2");
    }

    /**
     * Sizes: qemu ends an extended-L2 image's file at the last byte of the disk, others at the end
     * of the last cluster (its check reports the whole cluster either way); this library always
     * ends at the cluster, so extended L2 is compared at a whole number of clusters.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"cluster_size=64K,3072000", "compat=0.10,3072000", "extended_l2=on,3145728", "cluster_size=2M,3072000",
        "lazy_refcounts=on,3072000", "'cluster_size=8K,refcount_bits=8',3072000"})
    void smallMetadataPreallocationIsQemusFileByteForByte(String options, long size) throws IOException {
        String all = "preallocation=metadata," + options;
        Path ours = create("ours.qcow2", size, all);
        img(dir, "create", "-q", "-f", "qcow2", "-o", all, "theirs.qcow2", Long.toString(size));
        assertArrayEquals(Files.readAllBytes(dir.resolve("theirs.qcow2")), Files.readAllBytes(ours),
                "qemu-img create -o " + all);
    }

    @Test
    void aBackingFileShowsThroughPreallocatedExtendedL2Clusters() throws IOException {
        img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "8M");
        io(dir, "qcow2", "base.qcow2", "write -P 0x5a 0 8M");
        Path child = dir.resolve("child.qcow2");
        try (Disk base = Disk.open(dir.resolve("base.qcow2"), OpenOptions.defaultReadOnly())) {
            UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class, () -> new Qcow2Format()
                    .create(child, CreateOptions.of(0).with("preallocation", "metadata")
                            .withParent(base, Path.of("base.qcow2"))));
            assertEquals("qcow2: a backing file and preallocation need extended_l2=on", e.getMessage());
            assertTrue(Files.notExists(child), "nothing left behind");
            new Qcow2Format().create(child, CreateOptions.of(0).with("preallocation", "metadata")
                    .with("extended_l2", "on").withParent(base, Path.of("base.qcow2"))).close();
        }
        long size = Files.size(child);
        byte[] model = new byte[8 << 20];
        Arrays.fill(model, (byte) 0x5a);
        try (Disk d = Disk.open(child, OpenOptions.defaultReadWrite())) {
            DiskBytes.assertSame(model, DiskBytes.readAll(d), "the backing file's data");
            byte[] w = new byte[3000];
            Arrays.fill(w, (byte) 0x11);
            d.write(70_000, ByteBuffer.wrap(w)); // partial subclusters: filled from the backing file
            System.arraycopy(w, 0, model, 70_000, w.length);
        }
        assertEquals(size, Files.size(child), "written into the reserved cluster");
        OracleRunner.verify(Oracle.qemu("qcow2"), List.of(child), model);
        QemuTools.assertClean(dir, "qcow2", "child.qcow2");
    }

    @Test
    void refusedCombinationsSayWhy() {
        UnsupportedFeatureException luks = assertThrows(UnsupportedFeatureException.class,
                () -> create("e.qcow2", 1 << 20, "preallocation=full,encrypt.format=luks"));
        assertEquals("qcow2: preallocation=full with encrypt.format=luks is not supported", luks.getMessage());
        UnsupportedFeatureException lazy = assertThrows(UnsupportedFeatureException.class,
                () -> create("l.qcow2", 1 << 20, "lazy_refcounts=on,compat=0.10"));
        assertEquals("qcow2: lazy_refcounts needs compat=1.1", lazy.getMessage());
        assertThrows(UnsupportedFeatureException.class, () -> create("m.qcow2", 1 << 20, "preallocation=some"));
        assertTrue(Files.notExists(dir.resolve("e.qcow2")) && Files.notExists(dir.resolve("l.qcow2")));
    }

    @Test
    void lazyRefcountsIsSetAndAWritableOpenRepairsWhatQemuLeftDirty() throws IOException {
        Path p = create("z.qcow2", 8 << 20, "lazy_refcounts=on");
        String info = img(dir, "info", "z.qcow2");
        assertTrue(info.contains("lazy refcounts: true"), info);
        // qemu defers the refcounts and dies before writing them: the dirty bit stays set
        ExternalTools.Result crashed = QemuTools.run(dir, true, "qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 3M",
                "-c", "abort", "z.qcow2");
        assertTrue(crashed.exit() != 0, "qemu-io abort");
        assertTrue(img(dir, "info", "--output=json", "z.qcow2").contains("\"dirty-flag\": true"));
        assertTrue(QemuTools.check(dir, "qcow2", "z.qcow2").exit() != 0, "stale refcounts");
        byte[] model = new byte[8 << 20];
        Arrays.fill(model, 0, 3 << 20, (byte) 0x33);
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
            d.write(5 << 20, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        model[5 << 20] = 1;
        model[(5 << 20) + 1] = 2;
        model[(5 << 20) + 2] = 3;
        OracleRunner.verify(Oracle.qemu("qcow2"), List.of(p), model);
        QemuTools.assertClean(dir, "qcow2", "z.qcow2");
    }
}
