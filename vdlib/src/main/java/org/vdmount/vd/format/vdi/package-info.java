/**
 * VirtualBox Disk Image (VDI) backend; {@link org.vdmount.vd.format.vdi.VdiFormat} is its table.
 *
 * <ul>
 * <li>{@code VdiHeader}: pre-header + header record (v1.1, v1.1+ and the read-only v0 layout), and
 *     all open-time validation of its fields.</li>
 * <li>{@code VdiBlockMap}: the cached block map (lock-free reads) and its validation: entries below
 *     the block count; shared slots and slots past the end of the file refused on writable opens,
 *     reported on read-only ones.</li>
 * <li>{@code VdiImage}: one layer; read path (optimistic against block moves) and write dispatch.</li>
 * <li>{@code VdiAllocator}: every metadata change: append allocation, discard, modification UUID,
 *     flush.</li>
 * </ul>
 *
 * Decisions: virtual size is cbDisk rounded up to 512 (as QEMU; VirtualBox rounds down). Discard of
 * a dynamic block frees it and moves the last slot into the hole (VirtualBox's approach), the file
 * is cut at the next flush; differencing images record the ZERO marker; fixed images punch the slot.
 * A data block cut off by the end of the file opens read-only with a warning and fails when read.
 * A header allocated count that disagrees with the block map (stale after a crash) is rewritten
 * from the map by a writable open and only reported by a read-only one ({@code VdiImage}).
 */
package org.vdmount.vd.format.vdi;
