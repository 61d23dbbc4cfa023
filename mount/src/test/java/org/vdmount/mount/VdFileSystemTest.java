package org.vdmount.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.mount.fuse.FileAttributes;
import org.vdmount.mount.fuse.FuseOps;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** The filesystem logic without FUSE: raw images in a temp dir, checked against the file bytes. */
class VdFileSystemTest {
    private static final int SIZE = 3 * 1024 * 1024 + 512;

    @TempDir
    Path dir;
    private final List<Volume> opened = new ArrayList<>();
    private byte[] content;

    @AfterEach
    void close() throws IOException {
        for (Volume v : opened) {
            v.close();
        }
    }

    private Path image(String name) throws IOException {
        content = new byte[SIZE];
        new Random(42).nextBytes(content);
        Path p = dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    private VdFileSystem fs(boolean readOnly, Path... images) throws IOException {
        List<Volume> vols = new ArrayList<>();
        for (Path p : images) {
            Volume v = Volume.open(p, null, new OpenOptions(readOnly, List.of(), false, false, null), null);
            opened.add(v);
            vols.add(v);
        }
        return new VdFileSystem(vols, MountSession.directoryNames(List.of(images)), readOnly, 1234, 5678);
    }

    private static ByteBuffer direct(int n) {
        return ByteBuffer.allocateDirect(n);
    }

    private static byte[] bytes(ByteBuffer b, int n) {
        byte[] out = new byte[n];
        b.flip();
        b.get(out);
        return out;
    }

    @Test
    void readsTheImageBytesAndStopsAtTheEnd() throws IOException {
        VdFileSystem fs = fs(true, image("a.raw"));
        long h = fs.open("/disk", FuseOps.O_RDONLY);
        assertTrue(h >= 0);
        ByteBuffer b = direct(131072);
        assertEquals(131072, fs.read(h, b, 4097));
        assertArrayEquals(Arrays.copyOfRange(content, 4097, 4097 + 131072), bytes(b, 131072));
        b.clear();
        assertEquals(100, fs.read(h, b, SIZE - 100), "short read at EOF");
        assertArrayEquals(Arrays.copyOfRange(content, SIZE - 100, SIZE), bytes(b, 100));
        b.clear();
        assertEquals(0, fs.read(h, b, SIZE));
        assertEquals(0, fs.read(h, b, SIZE + 5000));
        assertEquals(-Errno.EINVAL, fs.read(h, b, -1));
    }

    @Test
    void readOnlyRefusesEveryChange() throws IOException {
        Path img = image("a.raw");
        VdFileSystem fs = fs(true, img);
        assertEquals(-Errno.EROFS, fs.open("/disk", 2 /* O_RDWR */));
        assertEquals(-Errno.EROFS, fs.open("/disk", 1 /* O_WRONLY */));
        long h = fs.open("/disk", FuseOps.O_RDONLY);
        assertEquals(-Errno.EROFS, fs.write(h, ByteBuffer.allocate(10), 0));
        assertEquals(-Errno.EROFS, fs.fallocate(h, FuseOps.FALLOC_FL_PUNCH_HOLE | FuseOps.FALLOC_FL_KEEP_SIZE, 0, 4096));
        assertEquals(-Errno.EROFS, fs.truncate("/disk", SIZE));
        assertEquals(-Errno.EROFS, fs.refuseChange("/x"));
        assertEquals(0, fs.flush(h));
        assertEquals(0, fs.fsync(h, false));
        assertArrayEquals(content, Files.readAllBytes(img));
    }

    @Test
    void attributes() throws IOException {
        Path img = image("a.raw");
        VdFileSystem fs = fs(true, img);
        FileAttributes a = new FileAttributes();
        assertEquals(0, fs.getattr("/disk", a));
        assertEquals(FileAttributes.S_IFREG | 0444, a.mode);
        assertEquals(SIZE, a.sizeBytes);
        assertEquals(1234, a.uid);
        assertEquals(5678, a.gid);
        assertEquals(Files.getLastModifiedTime(img).toMillis(), a.mtimeNanos / 1_000_000);
        assertTrue(a.blocks512 > 0 && a.blocks512 * 512 >= SIZE - 4096, "blocks " + a.blocks512);
        assertEquals(0, fs.getattr("/", a));
        assertEquals(FileAttributes.S_IFDIR | 0555, a.mode);
        assertEquals(-Errno.ENOENT, fs.getattr("/nope", a));
        List<String> names = new ArrayList<>();
        assertEquals(0, fs.readdir("/", names::add));
        assertEquals(List.of("disk"), names);
        assertEquals(-Errno.ENOTDIR, fs.readdir("/disk", names::add));
        assertEquals(-Errno.EISDIR, fs.open("/", 0));
    }

    @Test
    void severalImagesGetOneDirectoryEach() throws IOException {
        Path a = image("x.raw");
        Files.createDirectories(dir.resolve("sub"));
        Path b = Files.copy(a, dir.resolve("sub/x.img"));
        Path c = Files.copy(a, dir.resolve("y.raw"));
        VdFileSystem fs = fs(true, a, b, c);
        List<String> names = new ArrayList<>();
        fs.readdir("/", names::add);
        assertEquals(List.of("x.raw", "x.img", "y"), names, "stems collide: whole file names");
        FileAttributes at = new FileAttributes();
        assertEquals(0, fs.getattr("/x.img/disk", at));
        assertEquals(SIZE, at.sizeBytes);
        assertEquals(0, fs.getattr("/y", at));
        assertEquals(FileAttributes.S_IFDIR | 0555, at.mode);
        assertEquals(-Errno.ENOENT, fs.getattr("/disk", at));
    }

    @Test
    void writesLandAtAnyOffsetAndNeverPastTheEnd() throws IOException {
        Path img = image("a.raw");
        VdFileSystem fs = fs(false, img);
        long h = fs.open("/disk", 2);
        byte[] data = new byte[70000];
        new Random(7).nextBytes(data);
        ByteBuffer src = direct(data.length).put(data).flip();
        assertEquals(data.length, fs.write(h, src, 1048576 - 1234));
        System.arraycopy(data, 0, content, 1048576 - 1234, data.length);
        src = ByteBuffer.wrap(data);
        assertEquals(300, fs.write(h, src, SIZE - 300), "short write at the end");
        System.arraycopy(data, 0, content, SIZE - 300, 300);
        assertEquals(-Errno.ENOSPC, fs.write(h, ByteBuffer.wrap(data), SIZE));
        assertEquals(0, fs.write(h, ByteBuffer.allocate(0), SIZE));
        assertEquals(0, fs.fsync(h, false));
        assertEquals(0, fs.flush(h));
        assertArrayEquals(content, Files.readAllBytes(img));
        assertEquals(0, fs.truncate("/disk", SIZE));
        assertEquals(-Errno.EPERM, fs.truncate("/disk", SIZE - 1));
        assertEquals(-Errno.EPERM, fs.ftruncate(h, 0));
        assertEquals(-Errno.EPERM, fs.refuseChange("/new"));
        assertEquals(Files.size(img), SIZE);
    }

    @Test
    void fallocateModes() throws IOException {
        Path img = image("a.raw");
        VdFileSystem fs = fs(false, img);
        long h = fs.open("/disk", 2);
        int keep = FuseOps.FALLOC_FL_KEEP_SIZE;
        assertEquals(0, fs.fallocate(h, 0, 0, SIZE));
        assertEquals(-Errno.ENOSPC, fs.fallocate(h, 0, SIZE - 10, 20));
        assertEquals(0, fs.fallocate(h, keep, SIZE - 10, 20));
        assertEquals(0, fs.fallocate(h, FuseOps.FALLOC_FL_PUNCH_HOLE | keep, 1000, 1048576 * 2));
        Arrays.fill(content, 1000, 1000 + 1048576 * 2, (byte) 0);
        assertEquals(0, fs.fallocate(h, FuseOps.FALLOC_FL_ZERO_RANGE, SIZE - 700, 600));
        Arrays.fill(content, SIZE - 700, SIZE - 100, (byte) 0);
        assertEquals(0, fs.fallocate(h, FuseOps.FALLOC_FL_ZERO_RANGE | keep, SIZE - 50, 5000));
        Arrays.fill(content, SIZE - 50, SIZE, (byte) 0);
        assertEquals(-Errno.ENOSPC, fs.fallocate(h, FuseOps.FALLOC_FL_ZERO_RANGE, SIZE - 50, 5000));
        assertEquals(-Errno.EOPNOTSUPP, fs.fallocate(h, 0x08 /* COLLAPSE_RANGE */, 0, 4096));
        assertEquals(-Errno.EOPNOTSUPP, fs.fallocate(h, FuseOps.FALLOC_FL_PUNCH_HOLE, 0, 4096));
        assertEquals(-Errno.EINVAL, fs.fallocate(h, keep, 0, 0));
        fs.fsync(h, false);
        assertArrayEquals(content, Files.readAllBytes(img));
        ByteBuffer b = direct(4096);
        assertEquals(4096, fs.read(h, b, 1048576));
        assertArrayEquals(new byte[4096], bytes(b, 4096));
    }

    @Test
    void aPartitionSliceCannotTouchBytesOutsideIt() throws IOException {
        Path img = image("a.raw");
        Disk disk = Disk.open(img, OpenOptions.defaultReadWrite());
        try {
            DiskSlice s = new DiskSlice(disk, 1048576, 4096);
            assertEquals(4096, s.clip(0, 10000));
            assertEquals(0, s.clip(4096, 1));
            byte[] ones = new byte[4096];
            Arrays.fill(ones, (byte) 1);
            s.write(0, ByteBuffer.wrap(ones));
            try {
                s.write(1, ByteBuffer.wrap(ones));
                throw new AssertionError("write past the slice end accepted");
            } catch (IndexOutOfBoundsException expected) {
                // the slice refuses
            }
            disk.flush();
        } finally {
            disk.close();
        }
        System.arraycopy(new byte[4096], 0, content, 0, 0);
        byte[] now = Files.readAllBytes(img);
        for (int i = 0; i < SIZE; i++) {
            byte want = i >= 1048576 && i < 1048576 + 4096 ? 1 : content[i];
            if (now[i] != want) {
                throw new AssertionError("byte " + i + " changed");
            }
        }
    }

    /** One MBR entry (LBA start and count) in a sector at {@code at}, slot {@code slot}. */
    private static void mbrEntry(byte[] disk, int at, int slot, int type, long start, long count) {
        ByteBuffer b = ByteBuffer.wrap(disk).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int e = at + 446 + 16 * slot;
        disk[e + 4] = (byte) type;
        b.putInt(e + 8, (int) start);
        b.putInt(e + 12, (int) count);
        disk[at + 510] = 0x55;
        disk[at + 511] = (byte) 0xaa;
    }

    @Test
    void anExtendedContainerShowsAsLinuxsOneKibStub() throws IOException {
        Path img = image("mbr.raw");
        Arrays.fill(content, 0, 512, (byte) 0);
        mbrEntry(content, 0, 0, 0x83, 2048, 1024);
        mbrEntry(content, 0, 1, 0x05, 3072, 2048);
        Arrays.fill(content, 3072 * 512, 3073 * 512, (byte) 0);
        mbrEntry(content, 3072 * 512, 0, 0x83, 64, 512);
        Files.write(img, content);
        Volume v = Volume.open(img, null, new OpenOptions(true, List.of(), false, false, null), null);
        opened.add(v);
        List<String> names = v.entries().stream().map(Volume.Entry::name).toList();
        assertEquals(List.of("disk", "p1", "p2", "p5"), names);
        DiskSlice ext = v.entries().get(2).slice();
        assertEquals(3072L * 512, ext.startBytes());
        assertEquals(1024, ext.lengthBytes(), "two 512-byte sectors, as Linux shows it");
        DiskSlice logical = v.entries().get(3).slice();
        assertEquals((3072L + 64) * 512, logical.startBytes());
        assertEquals(512L * 512, logical.lengthBytes());
        assertEquals(4096, Volume.extendedStubLength(4096), "one logical sector on a 4096-byte-sector disk");
    }

    @Test
    void errnoTable() {
        assertEquals("EROFS", Errno.name(Errno.EROFS));
        assertEquals("EOPNOTSUPP", Errno.name(95));
        assertEquals("ENOENT", Errno.name(2));
        assertEquals("errno 61", Errno.name(61));
        assertEquals(Errno.EROFS, ErrnoMap.errno(new org.vdmount.vd.ReadOnlyException("x")));
        assertEquals(Errno.EOPNOTSUPP, ErrnoMap.errno(new org.vdmount.vd.UnsupportedFeatureException("x")));
        assertEquals(Errno.EIO, ErrnoMap.errno(new org.vdmount.vd.CorruptImageException("x")));
        assertEquals(Errno.EIO, ErrnoMap.errno(new org.vdmount.vd.TruncatedImageException("x")));
        assertEquals(Errno.EIO, ErrnoMap.errno(new IOException("disk gone")));
        assertEquals(Errno.EINVAL, ErrnoMap.errno(new IndexOutOfBoundsException()));
        assertEquals(Errno.EIO, ErrnoMap.errno(new NullPointerException()));
    }

    @Test
    void directoryNamesAreUnique() {
        assertEquals(List.of("a.vdi", "a.vhd", "a-2", "b"), MountSession.directoryNames(
                List.of(Path.of("/x/a.vdi"), Path.of("/y/a.vhd"), Path.of("/z/a-2.raw"), Path.of("/b"))));
        assertEquals(List.of("d.vdi", "d.vhdx"), MountSession.directoryNames(List.of(Path.of("d.vdi"), Path.of("d.vhdx"))));
        assertEquals(List.of("d", "e"), MountSession.directoryNames(List.of(Path.of("d.vdi"), Path.of("e.vdi"))));
        assertEquals(List.of("d.vdi", "d.vdi-2", "e"), MountSession.directoryNames(
                List.of(Path.of("/x/d.vdi"), Path.of("/y/d.vdi"), Path.of("/y/e.vdi"))));
        assertEquals(List.of("vm"), MountSession.directoryNames(List.of(Path.of("/x/vm.hdd/DiskDescriptor.xml"))));
        assertEquals(List.of("image"), MountSession.directoryNames(List.of(Path.of("/x/.vdi"))));
    }
}
