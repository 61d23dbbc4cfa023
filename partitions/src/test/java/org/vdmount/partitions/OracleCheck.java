package org.vdmount.partitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/** Compares a {@link PartitionTable} with the oracles' listings, field by field (tests only). */
final class OracleCheck {
    private OracleCheck() {
    }

    /** Against sfdisk -J / fdisk -l: same numbers, offsets, sizes, types (and names, GUIDs, boot flags). */
    static void sfdisk(PartitionTable t, List<Tools.OraclePart> oracle, int sectorSize, String context) {
        sfdisk(t, oracle, sectorSize, true, context);
    }

    /** @param full whether the oracle listed names, GUIDs and boot flags (sfdisk -J) or not (fdisk -l) */
    static void sfdisk(PartitionTable t, List<Tools.OraclePart> oracle, int sectorSize, boolean full,
                       String context) {
        List<Partition> ours = t.partitions();
        assertEquals(oracle.size(), ours.size(), context + ": partition count; ours " + ours + " oracle " + oracle);
        for (int i = 0; i < ours.size(); i++) {
            Partition p = ours.get(i);
            Tools.OraclePart o = oracle.get(i);
            String where = context + ": partition " + o.number();
            assertEquals(o.number(), p.number(), where + " number");
            assertEquals(o.start() * sectorSize, p.startByte(), where + " start");
            assertEquals(o.size() * sectorSize, p.lengthBytes(), where + " size");
            if (p.scheme() == Scheme.MBR) {
                assertEquals(Integer.parseInt(o.type(), 16), Integer.parseInt(p.typeCode(), 16), where + " type");
            } else {
                assertEquals(o.type().toLowerCase(Locale.ROOT), p.typeCode(), where + " type");
            }
            if (full) {
                if (p.scheme() == Scheme.GPT) {
                    assertEquals(o.uuid().toLowerCase(Locale.ROOT), p.uuid(), where + " uuid");
                    assertEquals(o.name(), p.name(), where + " name");
                }
                assertEquals(o.bootable(), p.bootable(), where + " bootable");
            }
        }
        OracleCounts.SFDISK_TABLES.incrementAndGet();
        OracleCounts.SFDISK_PARTITIONS.addAndGet(ours.size());
    }

    /** Against {@code mmls -a}: same allocated extents in disk order, same slots, types or names. */
    static void mmls(PartitionTable t, List<Tools.MmlsPart> mmls, int sectorSize, String context) {
        List<Partition> ours = t.partitions().stream().filter(p -> !p.isExtendedContainer())
                .sorted(Comparator.comparingLong(Partition::startByte)).toList();
        assertEquals(mmls.size(), ours.size(), context + ": mmls count; ours " + ours + " mmls " + mmls);
        for (int i = 0; i < ours.size(); i++) {
            Partition p = ours.get(i);
            Tools.MmlsPart m = mmls.get(i);
            String where = context + ": mmls line " + m;
            assertEquals(m.start() * sectorSize, p.startByte(), where + " start");
            assertEquals(m.length() * sectorSize, p.lengthBytes(), where + " length");
            switch (p.scheme()) {
                case MBR -> {
                    assertTrue(m.description().endsWith("(0x" + p.typeCode() + ")"), where + " type " + p.typeCode());
                    if (m.slot().startsWith("000:")) {
                        assertEquals(Integer.parseInt(m.slot().substring(4)) + 1, p.number(), where + " slot");
                    } else {
                        assertTrue(p.number() >= 5, where + " logical number");
                    }
                }
                case GPT -> {
                    assertEquals(Integer.parseInt(m.slot()) + 1, p.number(), where + " slot");
                    assertEquals(p.name().strip(), m.description(), where + " name");
                }
                case APM -> {
                    assertEquals(Integer.parseInt(m.slot()) + 1, p.number(), where + " slot");
                    assertEquals(p.typeCode(), m.description(), where + " type");
                }
                default -> throw new AssertionError(where);
            }
        }
        OracleCounts.MMLS_TABLES.incrementAndGet();
        OracleCounts.MMLS_PARTITIONS.addAndGet(ours.size());
    }
}
