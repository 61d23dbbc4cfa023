package org.vdmount.vd;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.storage.Storage;

/**
 * One opened layer of a disk, handled by its {@link ImageFormat}. An image answers only for
 * itself: "not mine" ({@link Allocation#UNALLOCATED}) is a normal answer and the {@link Disk}
 * decides to fall through to the parent.
 *
 * <h2>I/O contract</h2>
 * <ul>
 * <li>{@link #map} reports the longest homogeneous run at an offset, never past {@code maxLength}
 *     and, as a rule, not past the end of the block holding it ({@link #blockSize()}); a format may
 *     answer a longer run where one {@link #readData} call serves it all (qcow2: consecutive
 *     clusters of one kind whose host clusters follow each other).</li>
 * <li>{@link #readData} is called only for ranges inside a DATA run.</li>
 * <li>{@link #write} gets a range inside one block, or, where {@link #maxWriteBytes()} is larger
 *     than the block, a run of whole blocks (the last one may end at the end of the disk) inside
 *     one {@code maxWriteBytes}-aligned span. It writes in place, or allocates on its own
 *     when the range covers whole fill units ({@link #fillUnit()}); a range that only partly
 *     covers fill units the image does not hold answers {@link WriteResult#NEEDS_FILL} and writes
 *     nothing. A write covering whole fill units must never answer NEEDS_FILL.</li>
 * <li>{@link #discard} gets whole blocks. Afterwards the range reads as zeros; a differencing
 *     image records "zero" (or writes zeros), never "unallocated" over its parent's data.</li>
 * </ul>
 * Implementations are thread-safe; {@link #map} and {@link #readData} take no global lock.
 */
public interface Image extends Closeable {

    ImageFormat format();

    /** Sub-type as users know it: "fixed", "dynamic", "differencing", "split", ... */
    String variant();

    /** The primary storage: the file named on the command line, used in messages and for locators. */
    Storage storage();

    /**
     * Every host file this image uses (descriptor and extents, split parts, data files), primary
     * first. Whatever handles "the image's file" (overwrite guards, cleanup, sizes, mtime, locks)
     * uses this, not {@code storage().path()}.
     */
    default List<Path> files() {
        return storage().files();
    }

    long virtualSize();

    default int logicalSectorSize() {
        return 512;
    }

    default int physicalSectorSize() {
        return logicalSectorSize();
    }

    /** This image's own identity, or null if the format has none. */
    UUID uuid();

    /** The identity children record to link to this image (VHDX: data-write GUID). */
    default UUID linkUuid() {
        return uuid();
    }

    /** The parent this image needs, or null for a base image. */
    ParentReference parent();

    boolean readOnly();

    /** Allocation unit: runs and writes never cross a multiple of it. A power of two. */
    long blockSize();

    /**
     * The longest run of whole blocks one {@link #write} may cover, a power of two, a multiple of
     * {@link #blockSize()}: formats that lay a run of new blocks out in one piece (one host write
     * for all their data) answer more than the block. Writes never cross a multiple of it.
     */
    default long maxWriteBytes() {
        return blockSize();
    }

    /** Unit that must be covered entirely when writing into space the image does not hold. */
    long fillUnit();

    /** The run at {@code offset}, at most {@code maxLength} bytes; see {@link Run}. */
    long map(long offset, long maxLength) throws IOException;

    /** Fills {@code dst} (to its limit) with this image's bytes at {@code offset}. */
    void readData(long offset, ByteBuffer dst) throws IOException;

    /**
     * Where the guest byte at {@code offset}, inside a DATA run, is stored: the host storage and
     * the byte offset in it, the rest of the run following contiguously. Null when the data has no
     * one plain host location (compressed) or the format does not say. Used at open to find the
     * data a file cut short has lost ({@link TruncationScan}).
     */
    default HostLocation hostLocation(long offset) throws IOException {
        return null;
    }

    /** Writes {@code src} (to its limit) at {@code offset}; see the class contract. */
    WriteResult write(long offset, ByteBuffer src) throws IOException;

    /** Makes whole blocks read as zeros, giving back space where the format allows. */
    void discard(long offset, long length) throws IOException;

    /** Makes everything written so far durable: data first, then the metadata pointing to it. */
    void flush() throws IOException;

    /** Host bytes allocated (st_blocks * 512) over all of {@link #files()}. */
    default long hostAllocatedBytes() throws IOException {
        return storage().allocatedBytes();
    }

    /** Bytes of virtual data this layer holds (allocated blocks), for st_blocks and summaries. */
    long allocatedBytes() throws IOException;

    /**
     * Digests of the whole virtual disk that the image records (an E01's MD5 and SHA-1), keyed by
     * the JCA algorithm name ("MD5", "SHA-1"), values lower-case hex; empty when it stores none.
     * {@code vd verify} recomputes and compares them.
     */
    default Map<String, String> storedDigests() {
        return Map.of();
    }

    /**
     * Recomputes the checksums the image stores over its own bytes or parts of its media (a DMG's
     * data-fork and block-table CRC-32s) by reading them, and answers stored and computed values;
     * empty (without reading) when the image stores none. {@code vd verify} compares them.
     */
    default java.util.List<StoredChecksum> storedChecksums() throws IOException {
        return java.util.List.of();
    }

    /**
     * The metadata fields {@link #edit} can change in this image (what its format and variant
     * store), whether or not it is open writable; empty for formats that store none.
     */
    default java.util.Set<MetadataField> editableFields() {
        return java.util.Set.of();
    }

    /**
     * Changes the recorded metadata (VirtualBox's VDSetUuid / VDSetParentUuid / VDSetComment /
     * VDSetPCHSGeometry, QEMU's bdrv_change_backing_file) durably: everything written before is
     * flushed first, and the change is written last, so a crash leaves the old metadata or the new.
     * Afterwards the image is to be closed: what it reports ({@link #uuid()}, {@link #parent()},
     * {@link #details()}) describes the file as it was opened. Refuses, in one line naming the
     * format and the field, a field not in {@link #editableFields()}.
     */
    default void edit(MetadataEdit edit) throws IOException {
        checkEdit(edit);
        throw new UnsupportedFeatureException(format().name() + ": " + storage().path()
                + ": changing metadata is not supported");
    }

    /**
     * Refuses, before anything is written, an edit {@link #edit} would refuse: a field not in
     * {@link #editableFields()}, a value the format cannot store. {@link ChainRebase} asks this
     * before it copies data.
     */
    default void checkEdit(MetadataEdit edit) throws IOException {
        edit.checkSupported(this);
    }

    /** Format-specific facts for {@code vd info} (block size, sector size, locators, ...). */
    default Map<String, Object> details() {
        return Map.of();
    }
}
