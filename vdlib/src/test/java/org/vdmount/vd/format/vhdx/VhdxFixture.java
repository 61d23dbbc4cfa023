package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;

/**
 * VHDX for the conformance kit: dynamic images of 512-byte and 4 KiB logical sectors, fixed
 * ones; children of 2 MiB blocks (Hyper-V's differencing default).
 */
public class VhdxFixture extends FixtureBase {
    public VhdxFixture() {
        super("vhdx", ByteOrder.LITTLE_ENDIAN, false);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("512-sectors", "block_size=1M").children("block_size=2M"),
                Variant.of("4k-sectors", "block_size=1M,logical_sector_size=4096").children("block_size=1M"),
                Variant.fixed("fixed", "subformat=fixed,block_size=1M").children("block_size=1M"));
    }

    /**
     * File id, both headers and region tables, metadata table and items, the BAT's first entries
     * and a sector-bitmap entry, and the log's first entry when the current header names a log.
     */
    @Override
    public List<Region> regions(Path file, byte[] b) throws IOException {
        Regions r = new Regions(b.length);
        r.add("file id", Vhdx.FILE_ID_OFFSET, 16);
        r.add("header 1", Vhdx.HEADER1_OFFSET, 80);
        r.add("header 2", Vhdx.HEADER2_OFFSET, 80);
        r.add("region table 1", Vhdx.REGION1_OFFSET, 80);
        r.add("region table 2", Vhdx.REGION2_OFFSET, 80);
        if (b.length < Vhdx.REGION2_OFFSET) {
            return r.list();
        }
        RegionTable rt = RegionTable.parse(Arrays.copyOfRange(b, (int) Vhdx.REGION1_OFFSET,
                (int) Vhdx.REGION1_OFFSET + RegionTable.SIZE), file, Vhdx.REGION1_OFFSET);
        long meta = rt.find(Vhdx.METADATA_REGION).fileOffsetBytes();
        long bat = rt.find(Vhdx.BAT_REGION).fileOffsetBytes();
        r.add("metadata table", meta, 32 + 6 * 32);
        r.add("metadata items", meta + VhdxMetadata.TABLE_SIZE, 300);
        r.add("BAT", bat, 64);
        r.add("BAT sector-bitmap entries", bat + 8 * 4096, 16);
        VhdxHeader h = current(b);
        if (h != null && !h.logGuid().equals(Vhdx.ZERO_GUID)) {
            long log = h.logOffsetBytes();
            r.add("log entry header", log, 64);
            r.add("log descriptors", log + 64, 128);
            r.add("log data sector", log + Vhdx.LOG_SECTOR, 16);
        }
        return r.list();
    }

    /** The header with the higher sequence number among the valid ones, or null. */
    private static VhdxHeader current(byte[] b) {
        VhdxHeader best = null;
        for (long at : new long[] {Vhdx.HEADER1_OFFSET, Vhdx.HEADER2_OFFSET}) {
            if (at + VhdxHeader.SIZE <= b.length) {
                VhdxHeader h = VhdxHeader.parse(Arrays.copyOfRange(b, (int) at, (int) at + VhdxHeader.SIZE));
                if (h != null && (best == null || h.sequence() > best.sequence())) {
                    best = h;
                }
            }
        }
        return best;
    }

    /** CRC-32C of both headers, both region tables and the first log entry. */
    @Override
    public void fixChecksums(byte[] b, int length) {
        for (long at : new long[] {Vhdx.HEADER1_OFFSET, Vhdx.HEADER2_OFFSET}) {
            crc(b, length, at, VhdxHeader.SIZE);
        }
        for (long at : new long[] {Vhdx.REGION1_OFFSET, Vhdx.REGION2_OFFSET}) {
            crc(b, length, at, RegionTable.SIZE);
        }
        VhdxHeader h = current(Arrays.copyOf(b, length));
        if (h != null && !h.logGuid().equals(Vhdx.ZERO_GUID) && h.logOffsetBytes() + 64 <= length) {
            long entry = Bytes.of(b).u32le((int) h.logOffsetBytes() + 8);
            if (entry >= 64 && entry <= 1 << 20) {
                crc(b, length, h.logOffsetBytes(), (int) entry);
            }
        }
    }

    private static void crc(byte[] b, int length, long at, int size) {
        if (at + size <= length) {
            Bytes.of(b).put32le((int) at + 4, Vhdx.crc32c(b, (int) at, size, 4));
        }
    }

    /**
     * QEMU checks and reads dynamic and fixed images of 512-byte logical sectors; it refuses 4 KiB
     * ones (ENOTSUP) and differencing ones, so vhdimount reads a 4 KiB-sector base. Nobody checks
     * children: vhdimount 20210425 reads a child's sector bitmap from file offset 0 while its BAT
     * entry is still NOT_PRESENT (a fresh child shows zeros in sectors of its parent) and shows
     * the parent through blocks a child records as ZERO.
     */
    @Override
    public Oracle oracle(Variant variant, int layers) {
        if (layers > 1) {
            return Oracle.none("QEMU refuses differencing VHDX; vhdimount 20210425 misreads children");
        }
        return variant.options().containsKey("logical_sector_size") ? Oracle.vhdimount() : Oracle.qemu("vhdx");
    }

    /** An image whose log was never applied (a crash between journal and apply), and one QEMU made. */
    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        Path dirty = Files.createDirectories(dir.resolve("dirty")).resolve("dirty.vhdx");
        VhdxLogTest.dirtyBase(dirty);
        out.add(dirty);
        if (ExternalTools.has("qemu-img")) {
            Path q = Files.createDirectories(dir.resolve("qemu"));
            Files.write(q.resolve("src.raw"), Tools.sparseContent(4 << 20, 4));
            ExternalTools.run(q, "qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", "src.raw",
                    "q.vhdx");
            Files.delete(q.resolve("src.raw"));
            out.add(q.resolve("q.vhdx"));
        }
        return out;
    }

    @Override
    public int mutationCases() {
        return 3200;
    }
}
