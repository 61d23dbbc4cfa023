package org.vdmount.partitions;

import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/** Readable names for the common partition type codes (names as fdisk/sfdisk print them). */
final class TypeNames {
    private TypeNames() {
    }

    private static final Map<Integer, String> MBR = Map.ofEntries(
            Map.entry(0x01, "FAT12"),
            Map.entry(0x04, "FAT16 <32M"),
            Map.entry(0x05, "Extended"),
            Map.entry(0x06, "FAT16"),
            Map.entry(0x07, "HPFS/NTFS/exFAT"),
            Map.entry(0x0B, "W95 FAT32"),
            Map.entry(0x0C, "W95 FAT32 (LBA)"),
            Map.entry(0x0E, "W95 FAT16 (LBA)"),
            Map.entry(0x0F, "W95 Ext'd (LBA)"),
            Map.entry(0x11, "Hidden FAT12"),
            Map.entry(0x12, "Compaq diagnostics"),
            Map.entry(0x14, "Hidden FAT16 <32M"),
            Map.entry(0x16, "Hidden FAT16"),
            Map.entry(0x17, "Hidden HPFS/NTFS"),
            Map.entry(0x1B, "Hidden W95 FAT32"),
            Map.entry(0x1C, "Hidden W95 FAT32 (LBA)"),
            Map.entry(0x1E, "Hidden W95 FAT16 (LBA)"),
            Map.entry(0x27, "Hidden NTFS WinRE"),
            Map.entry(0x42, "SFS"),
            Map.entry(0x82, "Linux swap / Solaris"),
            Map.entry(0x83, "Linux"),
            Map.entry(0x84, "OS/2 hidden or Intel hibernation"),
            Map.entry(0x85, "Linux extended"),
            Map.entry(0x86, "NTFS volume set"),
            Map.entry(0x87, "NTFS volume set"),
            Map.entry(0x8E, "Linux LVM"),
            Map.entry(0xA5, "FreeBSD"),
            Map.entry(0xA6, "OpenBSD"),
            Map.entry(0xA8, "Darwin UFS"),
            Map.entry(0xA9, "NetBSD"),
            Map.entry(0xAB, "Darwin boot"),
            Map.entry(0xAF, "HFS / HFS+"),
            Map.entry(0xBF, "Solaris"),
            Map.entry(0xDA, "Non-FS data"),
            Map.entry(0xDE, "Dell Utility"),
            Map.entry(0xEB, "BeOS fs"),
            Map.entry(0xEE, "GPT"),
            Map.entry(0xEF, "EFI (FAT-12/16/32)"),
            Map.entry(0xFB, "VMware VMFS"),
            Map.entry(0xFC, "VMware VMKCORE"),
            Map.entry(0xFD, "Linux raid autodetect"));

    private static final Map<String, String> GPT = Map.ofEntries(
            Map.entry("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System"),
            Map.entry("21686148-6449-6e6f-744e-656564454649", "BIOS boot"),
            Map.entry("024dee41-33e7-11d3-9d69-0008c781f39f", "MBR partition scheme"),
            Map.entry("e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft reserved"),
            Map.entry("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "Microsoft basic data"),
            Map.entry("de94bba4-06d1-4d40-a16a-bfd50179d6ac", "Windows recovery environment"),
            Map.entry("5808c8aa-7e8f-42e0-85d2-e1e90434cfb3", "Microsoft LDM metadata"),
            Map.entry("af9b60a0-1431-4f62-bc68-3311714a69ad", "Microsoft LDM data"),
            Map.entry("e75caf8f-f680-4cee-afa3-b001e56efc2d", "Microsoft Storage Spaces"),
            Map.entry("0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem"),
            Map.entry("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap"),
            Map.entry("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM"),
            Map.entry("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID"),
            Map.entry("44479540-f297-41b2-9af7-d131d5f0458a", "Linux root (x86)"),
            Map.entry("4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "Linux root (x86-64)"),
            Map.entry("b921b045-1df0-41c3-af44-4c6f280d3fae", "Linux root (ARM-64)"),
            Map.entry("933ac7e1-2eb4-4f13-b844-0e14e2aef915", "Linux home"),
            Map.entry("3b8f8425-20e0-4f3b-907f-1a25a76f98e8", "Linux server data"),
            Map.entry("ca7d7ccb-63ed-4c53-861c-1742536059cc", "Linux LUKS"),
            Map.entry("7ffec5c9-2d00-49b7-8941-3ea10a5586b7", "Linux dm-crypt"),
            Map.entry("bc13c2ff-59e6-4262-a352-b275fd6f7172", "Linux extended boot"),
            Map.entry("48465300-0000-11aa-aa11-00306543ecac", "Apple HFS/HFS+"),
            Map.entry("7c3457ef-0000-11aa-aa11-00306543ecac", "Apple APFS"),
            Map.entry("55465300-0000-11aa-aa11-00306543ecac", "Apple UFS"),
            Map.entry("426f6f74-0000-11aa-aa11-00306543ecac", "Apple boot"),
            Map.entry("52414944-0000-11aa-aa11-00306543ecac", "Apple RAID"),
            Map.entry("53746f72-6167-11aa-aa11-00306543ecac", "Apple Core storage"),
            Map.entry("83bd6b9d-7f41-11dc-be0b-001560b84f0f", "FreeBSD boot"),
            Map.entry("516e7cb4-6ecf-11d6-8ff8-00022d09712b", "FreeBSD data"),
            Map.entry("516e7cb5-6ecf-11d6-8ff8-00022d09712b", "FreeBSD swap"),
            Map.entry("516e7cb6-6ecf-11d6-8ff8-00022d09712b", "FreeBSD UFS"),
            Map.entry("516e7cba-6ecf-11d6-8ff8-00022d09712b", "FreeBSD ZFS"),
            Map.entry("6a898cc3-1dd2-11b2-99a6-080020736631", "Solaris /usr & Apple ZFS"),
            Map.entry("aa31e02a-400f-11db-9590-000c2911d1b8", "VMware VMFS"),
            Map.entry("fe3a2a5d-4f32-41a7-b725-accc3285a309", "ChromeOS kernel"),
            Map.entry("3cb8e202-3b7e-47dd-8a3c-7ff2a13cfcec", "ChromeOS root fs"));

    private static final Map<String, String> APM = Map.ofEntries(
            Map.entry("apple_hfs", "Apple HFS/HFS+"),
            Map.entry("apple_hfsx", "Apple HFSX"),
            Map.entry("apple_apfs", "Apple APFS"),
            Map.entry("apple_boot", "Apple boot"),
            Map.entry("apple_driver", "Apple driver"),
            Map.entry("apple_driver43", "Apple driver"),
            Map.entry("apple_driver_atapi", "Apple driver"),
            Map.entry("apple_patches", "Apple patches"),
            Map.entry("apple_unix_svr2", "Apple UNIX (A/UX)"),
            Map.entry("apple_ufs", "Apple UFS"),
            Map.entry("apple_prodos", "Apple ProDOS"),
            Map.entry("apple_partition_map", "Apple partition map"),
            Map.entry("apple_free", "Apple free space"));

    static String mbr(int type) {
        return MBR.getOrDefault(type, String.format("%02x", type));
    }

    static String gpt(UUID type) {
        String code = type.toString();
        return GPT.getOrDefault(code, code);
    }

    static String apm(String type) {
        return APM.getOrDefault(type.toLowerCase(Locale.ROOT), type);
    }
}
