package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.vdmount.vd.Bytes;

/**
 * Builds ESX extents no tool here can make, laid out as the format notes describe (libvmdk's COWD
 * notes; QEMU's seSparse structures). qemu-img reads both inside descriptors and serves as the
 * oracle; it never sees these builders.
 */
final class EsxFixtures {
    static final int UNALLOCATED = 0;
    static final int ZERO = 1;
    static final int DATA = 2;

    private EsxFixtures() {
    }

    /** Random grain kinds (seeded). COWD has no zero grains: ZERO becomes UNALLOCATED there. */
    static int[] kinds(int grains, long seed, boolean zeros) {
        Random r = new Random(seed);
        int[] k = new int[grains];
        for (int i = 0; i < grains; i++) {
            int x = r.nextInt(10);
            k[i] = x < 5 ? DATA : x < 8 || !zeros ? UNALLOCATED : ZERO;
        }
        return k;
    }

    /** A COWD extent: 2048-byte header, directory at sector 4, 4096-entry tables, then grains. */
    static void cowd(Path file, byte[] content, int grainSectors, int[] kinds) throws IOException {
        int grainBytes = grainSectors * 512;
        long capacity = content.length / 512;
        int grains = kinds.length;
        int gdEntries = (grains + 4095) / 4096;
        int gdSectors = (gdEntries * 4 + 511) / 512;
        int gtSectors = 4096 * 4 / 512;
        long tablesAt = 4 + gdSectors;
        long grainsAt = tablesAt + (long) gdEntries * gtSectors;
        int allocated = 0;
        for (int k : kinds) {
            allocated += k == DATA ? 1 : 0;
        }
        byte[] f = new byte[(int) ((grainsAt + (long) allocated * grainSectors) * 512)];
        Bytes b = Bytes.of(f);
        b.putBytes(0, new byte[] {'C', 'O', 'W', 'D'});
        b.put32le(0x04, 1).put32le(0x08, 3).put32le(0x0C, capacity).put32le(0x10, grainSectors).put32le(0x14, 4)
                .put32le(0x18, gdEntries).put32le(0x1C, grainsAt + (long) allocated * grainSectors);
        for (int t = 0; t < gdEntries; t++) {
            b.put32le(4 * 512 + t * 4, tablesAt + (long) t * gtSectors);
        }
        long next = grainsAt;
        // allocate in reverse order so file order differs from virtual order
        for (int g = grains - 1; g >= 0; g--) {
            if (kinds[g] != DATA) {
                continue;
            }
            int t = g / 4096;
            b.put32le((int) ((tablesAt + (long) t * gtSectors) * 512 + (g % 4096) * 4), next);
            int len = Math.min(grainBytes, content.length - g * grainBytes);
            System.arraycopy(content, g * grainBytes, f, (int) (next * 512), len);
            next += grainSectors;
        }
        Files.write(file, f);
    }

    /**
     * A seSparse extent: constant header, volatile header at sector 1, directory at sector 2,
     * tables, grains; 4 KiB grains and 4096-entry tables as ESXi writes them.
     */
    static void seSparse(Path file, byte[] content, int[] kinds) throws IOException {
        int grainBytes = 4096;
        int grains = kinds.length;
        int tables = (grains + 4095) / 4096;
        int gdSectors = Math.max(1, (tables * 8 + 511) / 512);
        long gdAt = 2;
        long gtAt = gdAt + gdSectors;
        long grainsAt = gtAt + (long) tables * 64;
        int allocated = 0;
        for (int k : kinds) {
            allocated += k == DATA ? 1 : 0;
        }
        byte[] f = new byte[(int) (grainsAt * 512 + (long) allocated * grainBytes)];
        Bytes b = Bytes.of(f);
        b.put64le(0x00, 0xCAFE_BABEL).put64le(0x08, 0x2_0000_0001L).put64le(0x10, content.length / 512)
                .put64le(0x18, 8).put64le(0x20, 64).put64le(0x50, 1).put64le(0x58, 1)
                .put64le(0x80, gdAt).put64le(0x88, gdSectors).put64le(0x90, gtAt).put64le(0x98, (long) tables * 64)
                .put64le(0xC0, grainsAt).put64le(0xC8, (long) allocated * 8);
        b.put64le(512, 0xCAFE_CAFEL);
        for (int t = 0; t < tables; t++) {
            b.put64le((int) (gdAt * 512 + t * 8), 0x1000_0000_0000_0000L | t);
        }
        long cluster = 0;
        Random r = new Random(grains);
        for (int g = 0; g < grains; g++) {
            long entry = 0;
            if (kinds[g] == ZERO) {
                entry = r.nextBoolean() ? 0x2000_0000_0000_0000L : 0x1000_0000_0000_0000L;
            } else if (kinds[g] == DATA) {
                long c = allocated - 1 - cluster++; // reverse order in the file
                entry = 0x3000_0000_0000_0000L | (c & 0xFFF) << 48 | c >>> 12;
                int len = Math.min(grainBytes, content.length - g * grainBytes);
                System.arraycopy(content, g * grainBytes, f, (int) (grainsAt * 512 + c * grainBytes), len);
            }
            b.put64le((int) (gtAt * 512 + (long) g * 8), entry);
        }
        Files.write(file, f);
    }

    static String descriptor(String createType, long cid, long parentCid, String hint, String line) {
        return "# Disk DescriptorFile\nversion=1\nCID=" + Long.toHexString(cid) + "\nparentCID="
                + Long.toHexString(parentCid) + "\ncreateType=\"" + createType + "\"\n"
                + (hint != null ? "parentFileNameHint=\"" + hint + "\"\n" : "")
                + "\n# Extent description\n" + line + "\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = \"lsilogic\"\n";
    }
}
