/**
 * Parallels expanding image files; {@link org.vdmount.vd.format.parallels.ParallelsFormat} is its table.
 *
 * <ul>
 * <li>{@code ParallelsHeader}: the 64-byte header record and all open-time validation of its fields.</li>
 * <li>{@code Bat}: the BAT in memory (lock-free reads), its units per magic, and its checks.</li>
 * <li>{@code FormatExtension}: the ext_off cluster, read to know what must not be changed.</li>
 * <li>{@code ParallelsImage}: one layer; read, allocate-on-write, discard, the in-use flag.</li>
 * </ul>
 *
 * Decisions: the in-use flag is a dirty bit (set by writable opens, restored by a clean close); a
 * writable open of an image left in use clears BAT entries past the end of the file (what
 * {@code qemu-img check -r all} repairs) and refuses shared clusters; a dirty bitmap extension is
 * dropped by a writable open (our writes would make it stale). Clusters that are not a power of two
 * (63 sectors, in old images) and the empty-image flag open read-only only.
 */
package org.vdmount.vd.format.parallels;
