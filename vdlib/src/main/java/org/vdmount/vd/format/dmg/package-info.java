/**
 * Apple Universal Disk Image Format (UDIF, {@code .dmg}): read-only. The 512-byte {@code koly}
 * trailer ({@link org.vdmount.vd.format.dmg.KolyTrailer}) points at an XML property list whose
 * {@code resource-fork/blkx} entries each hold a {@code mish} block table; its chunks are zero,
 * raw or compressed (zlib, bzip2, LZMA/xz, ADC, LZFSE). Facts from libyal/libmodi's "Mac OS disk
 * image types" (§ UDIF resource file, § UDIF XML plist, block table).
 */
package org.vdmount.vd.format.dmg;
