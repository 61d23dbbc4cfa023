package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.ChainException;
import org.vdmount.vd.ContainmentException;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.PathPolicy;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.SnapshotKey;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.storage.ZeroTailStorage;
import org.vdmount.vd.table.TableCache;

/** Opening a qcow2 file: header, extensions, backing reference, data file, L1 table, snapshots. */
final class Qcow2Opener {
    /** System property overriding the L2 cache size in bytes (K/M/G suffixes allowed). */
    static final String CACHE_PROPERTY = "vdmount.qcow2.l2-cache-size";
    static final long DEFAULT_CACHE_BYTES = 32L << 20;

    private Qcow2Opener() {
    }

    /** Opens the active state, or with {@code snapshot} != null that snapshot read-only. */
    static Qcow2Image open(ImageFormat format, Path path, OpenOptions options, String snapshot) throws IOException {
        boolean readOnly = options.readOnly() || snapshot != null;
        Storage storage = ZeroTailStorage.wrapIf(FileStorage.open(path, readOnly), options);
        Storage data = storage;
        try {
            long fileSize = storage.size();
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(fileSize, 4096));
            storage.read(head, 0);
            head.flip();
            if (head.remaining() < Qcow2Header.SIZE_V2) {
                if (Qcow2Header.hasMagic(Bytes.of(head))) {
                    throw new TruncatedImageException("qcow2", path, "header", 0, Qcow2Header.SIZE_V2, fileSize);
                }
                throw new org.vdmount.vd.NotThisFormatException("qcow2: " + path + " is too small to be qcow2");
            }
            Qcow2Header h = Qcow2Header.parse(Bytes.of(head), path);
            if (h.clusterBits() < Qcow2Header.MIN_CLUSTER_BITS || h.clusterBits() > Qcow2Header.MAX_CLUSTER_BITS) {
                h.validate(path, fileSize, null); // throws the cluster size error
            }
            int firstLen = (int) Math.min(fileSize, h.clusterSize());
            ByteBuffer first = ByteBuffer.allocate(firstLen);
            storage.readFully(first, 0, "qcow2", "header cluster");
            Bytes fb = Bytes.of(first.array());
            int extLimit = h.backingFileOffset() > 0 && h.backingFileOffset() < firstLen
                    ? (int) h.backingFileOffset() : firstLen;
            HeaderExtensions ext = HeaderExtensions.parse(fb, h.headerEnd(), extLimit, path);
            h.validate(path, fileSize, ext);
            if (ext.cryptoHeader() != (h.cryptMethod() == Qcow2Header.CRYPT_LUKS)) {
                throw new CorruptImageException("qcow2", path, "header", 0x20, "crypt_method " + h.cryptMethod()
                        + (ext.cryptoHeader() ? " with" : " without") + " a full disk encryption header extension");
            }
            if (!readOnly) {
                checkWritable(h, path);
                if (h.dirty()) {
                    RefcountRebuild.Result r = RefcountRebuild.run(storage, h, ext,
                            Qcow2Snapshot.readTable(storage, h.snapshotsOffset(), h.nbSnapshots(), fileSize));
                    h = r.header();
                    fileSize = storage.size();
                    options.warn(r.message());
                }
            }
            ParentReference parent = null;
            if (h.backingFileOffset() != 0) {
                String name = new String(fb.bytes((int) h.backingFileOffset(), (int) h.backingFileSize()),
                        StandardCharsets.UTF_8);
                parent = new ParentReference(null, List.of(name), ourFormatName(ext.backingFormat()));
            }
            if (h.externalDataFile()) {
                data = openDataFile(path, ext, options, readOnly);
            }
            if (ext.cryptoHeader()) {
                data = Qcow2Encryption.unlock(storage, data, ext, h, fileSize, options, path);
            }
            List<Qcow2Snapshot> snaps = Qcow2Snapshot.readTable(storage, h.snapshotsOffset(), h.nbSnapshots(), fileSize);
            long size = h.virtualSizeBytes();
            long l1Offset = h.l1TableOffset();
            long l1Size = h.l1Size();
            String snapName = null;
            if (snapshot != null) {
                Qcow2Snapshot s = find(snaps, snapshot, path);
                snapName = s.name().isEmpty() ? s.id() : s.name();
                size = s.diskSizeBytes() >= 0 ? s.diskSizeBytes() : size;
                l1Offset = s.l1TableOffset();
                l1Size = s.l1Size();
                checkSnapshotL1(h, s, size, fileSize, path);
            }
            long[] l1 = readL1(storage, l1Offset, l1Size);
            return new Qcow2Image(format, storage, data, h, ext, parent, snaps, snapName, size, l1Offset, l1,
                    cacheTables(h, size));
        } catch (IOException | RuntimeException e) {
            if (data != storage) {
                data.close();
            }
            storage.close();
            throw e;
        }
    }

    private static void checkWritable(Qcow2Header h, Path path) throws VdException {
        if (h.corrupt()) {
            throw new VdException("qcow2: " + path + " is marked corrupt; open it read-only, or repair it with "
                    + "'qemu-img check -r all'");
        }
    }

    /** The snapshot {@code key} selects ({@link SnapshotKey}: qemu's id or name, or snapshot.id=/snapshot.name=). */
    private static Qcow2Snapshot find(List<Qcow2Snapshot> snaps, String key, Path path) throws VdException {
        java.util.Optional<Qcow2Snapshot> found = SnapshotKey.parse(key).find(snaps, Qcow2Snapshot::id,
                Qcow2Snapshot::name);
        if (found.isPresent()) {
            return found.get();
        }
        List<String> names = new ArrayList<>();
        for (Qcow2Snapshot s : snaps) {
            names.add(s.id() + ":" + s.name());
        }
        throw new VdException("qcow2: " + path + " has no snapshot '" + key + "'"
                + (names.isEmpty() ? " (it has no snapshots)" : " (snapshots: " + String.join(", ", names) + ")"));
    }

    private static void checkSnapshotL1(Qcow2Header h, Qcow2Snapshot s, long size, long fileSize, Path path)
            throws IOException {
        long cs = h.clusterSize();
        if (size < 0 || size > Qcow2Header.MAX_VIRTUAL_SIZE) {
            throw new CorruptImageException("qcow2", path, "snapshot table", s.entryOffset(), "disk size " + size);
        }
        if (s.l1Size() * 8 > Qcow2Header.MAX_L1_BYTES || s.l1Size() < h.l1EntriesFor(size)) {
            throw new CorruptImageException("qcow2", path, "snapshot table", s.entryOffset(), "L1 size "
                    + s.l1Size() + " does not fit disk size " + size);
        }
        if (s.l1Size() > 0 && (s.l1TableOffset() < cs || (s.l1TableOffset() & (cs - 1)) != 0)) {
            throw new CorruptImageException("qcow2", path, "snapshot table", s.entryOffset(), "L1 table offset 0x"
                    + Long.toHexString(s.l1TableOffset()) + " is not a cluster-aligned position after the header");
        }
        if (s.l1TableOffset() > fileSize || s.l1Size() * 8 > fileSize - s.l1TableOffset()) {
            throw new TruncatedImageException("qcow2", path, "snapshot L1 table", s.l1TableOffset(), s.l1Size() * 8,
                    fileSize);
        }
    }

    private static long[] readL1(Storage storage, long offset, long entries) throws IOException {
        long[] l1 = new long[(int) entries];
        int chunk = 1 << 16;
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(entries * 8, chunk * 8L));
        for (int i = 0; i < entries; i += chunk) {
            int n = (int) Math.min(chunk, entries - i);
            buf.clear().limit(n * 8);
            storage.readFully(buf, offset + i * 8L, "qcow2", "L1 table");
            Bytes b = Bytes.of(buf.array());
            for (int k = 0; k < n; k++) {
                l1[i + k] = b.u64be(k * 8);
            }
        }
        return l1;
    }

    private static int cacheTables(Qcow2Header h, long size) throws UnsupportedFeatureException {
        String prop = System.getProperty(CACHE_PROPERTY);
        long bytes = prop != null ? Sizes.parse(prop) : DEFAULT_CACHE_BYTES;
        long cover = Math.max(1, h.l1EntriesFor(size));
        return TableCache.sizeFor(cover, Math.max(4, bytes >>> h.clusterBits()));
    }

    /**
     * Finds the external data file: a relative name is resolved against the image's directory
     * (and the parent search directories) and must stay inside; an absolute one only with
     * {@link OpenOptions#allowAbsoluteParents()}. The file opened is the real path {@link PathPolicy}
     * admits (a link leading out of the directories is refused).
     */
    private static Storage openDataFile(Path image, HeaderExtensions ext, OpenOptions options, boolean readOnly)
            throws IOException {
        String name = ext.dataFile();
        if (name == null || name.isEmpty()) {
            throw new UnsupportedFeatureException("qcow2: " + image + " uses an external data file but does not "
                    + "record its name");
        }
        Path dir = image.toAbsolutePath().normalize().getParent();
        Set<Path> candidates = new LinkedHashSet<>();
        if (name.startsWith("/")) {
            if (options.allowAbsoluteParents()) {
                candidates.add(Path.of(name).normalize());
            }
        } else {
            List<Path> dirs = new ArrayList<>();
            dirs.add(dir);
            for (Path d : options.parentDirs()) {
                dirs.add(d.toAbsolutePath().normalize());
            }
            for (Path d : dirs) {
                Path p = d.resolve(name).normalize();
                if (p.startsWith(d) || options.allowAbsoluteParents()) {
                    candidates.add(p);
                }
            }
        }
        String base = name.substring(name.lastIndexOf('/') + 1);
        if (!base.isEmpty() && !base.equals("..") && !base.equals(".")) {
            candidates.add(dir.resolve(base));
            for (Path d : options.parentDirs()) {
                candidates.add(d.toAbsolutePath().normalize().resolve(base));
            }
        }
        PathPolicy policy = PathPolicy.forImage(image, options);
        ContainmentException refused = null;
        for (Path p : candidates) {
            Path real;
            try {
                real = policy.admit(p, name);
            } catch (ContainmentException e) {
                refused = refused != null ? refused : e;
                continue;
            }
            if (real != null && Files.isRegularFile(real)) {
                return ZeroTailStorage.wrapIf(FileStorage.open(real, readOnly), options);
            }
        }
        if (refused != null) {
            throw new ContainmentException("qcow2: external data file of " + refused.getMessage());
        }
        throw new ChainException("qcow2: external data file '" + name + "' of " + image + " not found"
                + (name.startsWith("/") && !options.allowAbsoluteParents()
                ? " (absolute paths are followed only when allowed)" : "") + "; use --parent-dir DIR");
    }

    /** QEMU's driver name for a backing format → this library's format name. */
    static String ourFormatName(String qemuName) {
        if (qemuName == null || qemuName.isEmpty()) {
            return null;
        }
        return switch (qemuName) {
            case "vpc" -> "vhd";
            case "file", "host_device" -> "raw";
            default -> qemuName;
        };
    }

    /** This library's format name → QEMU's driver name (recorded as backing format). */
    static String qemuFormatName(String ourName) {
        return "vhd".equals(ourName) ? "vpc" : ourName;
    }
}
