package org.vdmount.mount.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.kenai.jffi.MemoryIO;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.vdmount.mount.fuse.FileAttributes;
import org.vdmount.mount.fuse.FsStats;
import org.vdmount.mount.fuse.FuseOps;

/**
 * The protocol side of a {@link Channel} without a kernel: requests laid out as fuse.h says are
 * written into one end of a SOCK_SEQPACKET socketpair (one message per request, as /dev/fuse
 * hands them out) and the replies read back from it, against a small in-memory file system.
 */
class ChannelTest {
    private static final int SOCK_SEQPACKET = 5;
    private static final int EPERM = 1;
    private static final int ENOENT = 2;
    private static final int ENOSYS = 38;
    private static final byte[] CONTENT = new byte[3 << 20];

    static {
        new Random(7).nextBytes(CONTENT);
    }

    private final Syscalls.Calls libc = Syscalls.libc();
    private final ByteBuffer req = ByteBuffer.allocateDirect(2 << 20).order(ByteOrder.nativeOrder());
    private final ByteBuffer rep = ByteBuffer.allocateDirect(2 << 20).order(ByteOrder.nativeOrder());
    private final Pointer reqPtr = Pointer.wrap(Syscalls.runtime(), MemoryIO.getInstance().getDirectBufferAddress(req));
    private final Pointer repPtr = Pointer.wrap(Syscalls.runtime(), MemoryIO.getInstance().getDirectBufferAddress(rep));
    private final MemFs fs = new MemFs();
    private Session session;
    private int ours;
    private int theirs;
    private Thread reader;
    private long unique = 100;

    @BeforeEach
    void start() {
        start(List.of());
    }

    private void start(List<String> options) {
        Pointer sv = Memory.allocateDirect(Syscalls.runtime(), 8);
        assertEquals(0, libc.socketpair(Syscalls.AF_UNIX, SOCK_SEQPACKET, 0, sv));
        ours = sv.getInt(0);
        theirs = sv.getInt(4);
        session = new Session(fs, MountOptions.parse(options));
        reader = new Thread(new Channel(session, theirs), "channel-test");
        reader.start();
    }

    @AfterEach
    void stop() throws InterruptedException {
        libc.close(ours); // the channel reads 0 bytes and ends
        reader.join(10_000);
        libc.close(theirs);
    }

    @Test
    void initNegotiatesOneMibRequestsAndAsyncIo() throws InterruptedException {
        init();
        assertEquals(0, rep.getInt(4));
        assertEquals(16 + 64, rep.getInt(0));
        assertEquals(7, rep.getInt(16));
        assertEquals(38, rep.getInt(20));
        assertEquals(131072, rep.getInt(24), "max_readahead as offered");
        int flags = Protocol.ASYNC_READ | Protocol.BIG_WRITES | Protocol.ASYNC_DIO | Protocol.PARALLEL_DIROPS
                | Protocol.MAX_PAGES;
        assertEquals(flags, rep.getInt(28), "no writeback cache, no splice, no readdirplus");
        assertEquals(1 << 20, rep.getInt(36), "max_write");
        assertEquals(256, rep.getShort(44), "max_pages");
        // the channel marks the session initialised right after it sends the reply: wait for it
        assertTrue(session.awaitInitialized(10_000), "session marked initialised");
        assertTrue(fs.initialized, "file system told of INIT");
    }

    @Test
    void aSmallerMaxWriteKeepsOneMibReads() throws InterruptedException {
        stop();
        start(List.of("max_write=65536"));
        init();
        assertEquals(65536, rep.getInt(36), "max_write as asked");
        assertEquals(256, rep.getShort(44), "max_pages still 1 MiB: READ requests stay large");
        request(Protocol.LOOKUP, 1, "disk\0".getBytes(StandardCharsets.UTF_8));
        long node = rep.getLong(16);
        request(Protocol.OPEN, node, ints(0, 0));
        long fh = rep.getLong(16);
        request(Protocol.READ, node, readIn(fh, 0, 100_000)); // more than max_write
        assertEquals(16 + 100_000, rep.getInt(0));
        assertEquals(0, rep.getInt(4));
        byte[] got = new byte[100_000];
        rep.get(16, got);
        assertArrayEquals(Arrays.copyOf(CONTENT, 100_000), got);
    }

    @Test
    void lookupOpenReadWriteAndSeek() {
        init();
        request(Protocol.LOOKUP, 1, "disk\0".getBytes(StandardCharsets.UTF_8));
        assertEquals(0, rep.getInt(4));
        long node = rep.getLong(16);
        assertEquals(CONTENT.length, rep.getLong(16 + 40 + 8), "attr.size");
        assertEquals(FileAttributes.S_IFREG | 0644, rep.getInt(16 + 40 + 60), "attr.mode");
        assertEquals(node, rep.getLong(16 + 40), "attr.ino is the node id");

        request(Protocol.LOOKUP, 1, "nope\0".getBytes(StandardCharsets.UTF_8));
        assertEquals(-ENOENT, rep.getInt(4));
        assertEquals(16, rep.getInt(0), "an error is the header alone");

        request(Protocol.OPEN, node, ints(2, 0));
        long fh = rep.getLong(16);
        assertEquals(0, rep.getInt(24) & Protocol.FOPEN_KEEP_CACHE, "writable: no keep_cache");

        // (a socketpair message is bounded by the socket buffer: 100 000 bytes stand for 1 MiB here)
        request(Protocol.READ, node, readIn(fh, 1000, 100_000));
        assertEquals(16 + 100_000, rep.getInt(0));
        byte[] got = new byte[100_000];
        rep.get(16, got);
        byte[] want = new byte[100_000];
        System.arraycopy(CONTENT, 1000, want, 0, want.length);
        assertArrayEquals(want, got);

        request(Protocol.READ, node, readIn(fh, CONTENT.length - 10, 4096));
        assertEquals(16 + 10, rep.getInt(0), "short only at the end");

        byte[] data = new byte[70_000];
        new Random(3).nextBytes(data);
        ByteBuffer w = ByteBuffer.allocate(40 + data.length).order(ByteOrder.nativeOrder());
        w.putLong(0, fh).putLong(8, 5555).putInt(16, data.length);
        w.put(40, data);
        request(Protocol.WRITE, node, w.array());
        assertEquals(0, rep.getInt(4));
        assertEquals(data.length, rep.getInt(16), "fuse_write_out.size");
        byte[] written = new byte[data.length];
        System.arraycopy(fs.bytes, 5555, written, 0, data.length);
        assertArrayEquals(data, written);

        ByteBuffer s = ByteBuffer.allocate(24).order(ByteOrder.nativeOrder());
        s.putLong(0, fh).putLong(8, 12345).putInt(16, FuseOps.SEEK_HOLE);
        request(Protocol.LSEEK, node, s.array());
        assertEquals(0, rep.getInt(4));
        assertEquals(1 << 20, rep.getLong(16));
    }

    @Test
    void readdirListsDotDotDotAndTheFiles() {
        init();
        request(Protocol.OPENDIR, 1, ints(0, 0));
        assertEquals(0, rep.getInt(4));
        request(Protocol.READDIR, 1, readIn(0, 0, 4096));
        List<String> names = new ArrayList<>();
        int end = rep.getInt(0);
        for (int p = 16; p < end; ) {
            int len = rep.getInt(p + 16);
            byte[] n = new byte[len];
            rep.get(p + 24, n);
            names.add(new String(n, StandardCharsets.UTF_8) + "/" + rep.getInt(p + 20) + "@" + rep.getLong(p + 8));
            p += (24 + len + 7) & ~7;
        }
        assertEquals(List.of("./4@1", "../4@2", "disk/8@3"), names);
        request(Protocol.READDIR, 1, readIn(0, 3, 4096));
        assertEquals(16, rep.getInt(0), "past the last entry: empty");
    }

    @Test
    void unknownOpcodesAreEnosysChangesAreRefusedAndForgetIsNotAnswered() {
        init();
        request(999, 1, new byte[0]);
        assertEquals(-ENOSYS, rep.getInt(4));
        request(Protocol.MKDIR, 1, "d\0".getBytes(StandardCharsets.UTF_8));
        assertEquals(-EPERM, rep.getInt(4));
        ByteBuffer set = ByteBuffer.allocate(88).order(ByteOrder.nativeOrder());
        set.putInt(0, Protocol.FATTR_MODE);
        request(Protocol.SETATTR, 1, set.array());
        assertEquals(-EPERM, rep.getInt(4));
        send(Protocol.FORGET, 1, new byte[8]); // no reply: the next one read answers GETATTR
        long getattr = request(Protocol.GETATTR, 1, new byte[16]);
        assertEquals(getattr, rep.getLong(8));
        assertEquals(FileAttributes.S_IFDIR | 0755, rep.getInt(16 + 16 + 60));
    }

    // ---- helpers ----

    private void init() {
        request(Protocol.INIT, 0, ints(7, 38, 131072, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    }

    private static byte[] ints(int... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.nativeOrder());
        for (int x : v) {
            b.putInt(x);
        }
        return b.array();
    }

    private static byte[] readIn(long fh, long offset, int size) {
        ByteBuffer b = ByteBuffer.allocate(40).order(ByteOrder.nativeOrder());
        b.putLong(0, fh).putLong(8, offset).putInt(16, size);
        return b.array();
    }

    /** Sends one request and reads its reply into {@link #rep}; returns the request's unique. */
    private long request(int opcode, long node, byte[] body) {
        long u = send(opcode, node, body);
        long n = libc.read(ours, repPtr, rep.capacity());
        assertTrue(n >= 16, "reply of " + n + " bytes");
        assertEquals(n, rep.getInt(0), "fuse_out_header.len");
        assertEquals(u, rep.getLong(8), "fuse_out_header.unique");
        return u;
    }

    private long send(int opcode, long node, byte[] body) {
        long u = unique++;
        int len = 40 + body.length;
        req.putInt(0, len).putInt(4, opcode).putLong(8, u).putLong(16, node);
        req.putLong(24, 0).putLong(32, 0);
        req.put(40, body);
        assertEquals(len, libc.write(ours, reqPtr, len));
        return u;
    }

    /** A writable root with one 3 MiB file; data up to 1 MiB, a hole after. */
    private static final class MemFs implements FuseOps {
        final byte[] bytes = CONTENT.clone();
        volatile boolean initialized;

        @Override
        public void initialized() {
            initialized = true;
        }

        @Override
        public int getattr(String path, FileAttributes out) {
            if (path.equals("/")) {
                out.mode = FileAttributes.S_IFDIR | 0755;
                out.nlink = 2;
                return 0;
            }
            if (path.equals("/disk")) {
                out.mode = FileAttributes.S_IFREG | 0644;
                out.nlink = 1;
                out.sizeBytes = bytes.length;
                return 0;
            }
            return -ENOENT;
        }

        @Override
        public int readdir(String path, Consumer<String> names) {
            names.accept("disk");
            return 0;
        }

        @Override
        public long open(String path, int flags) {
            return path.equals("/disk") ? 0 : -ENOENT;
        }

        @Override
        public boolean keepCache() {
            return false;
        }

        @Override
        public int read(long handle, ByteBuffer dst, long offset) {
            int n = (int) Math.max(0, Math.min(dst.remaining(), bytes.length - offset));
            dst.put(bytes, (int) offset, n);
            return n;
        }

        @Override
        public int write(long handle, ByteBuffer src, long offset) {
            int n = src.remaining();
            src.get(bytes, (int) offset, n);
            return n;
        }

        @Override
        public int flush(long handle) {
            return 0;
        }

        @Override
        public int fsync(long handle, boolean dataOnly) {
            return 0;
        }

        @Override
        public int release(long handle) {
            return 0;
        }

        @Override
        public int truncate(String path, long sizeBytes) {
            return -EPERM;
        }

        @Override
        public int ftruncate(long handle, long sizeBytes) {
            return -EPERM;
        }

        @Override
        public int fallocate(long handle, int mode, long offset, long length) {
            return 0;
        }

        @Override
        public FsStats statfs() {
            return new FsStats(512, bytes.length / 512, 0, 2, 255, false);
        }

        @Override
        public long lseek(long handle, long offset, int whence) {
            return whence == SEEK_HOLE ? Math.max(offset, 1 << 20) : offset;
        }

        @Override
        public int refuseChange(String path) {
            return -EPERM;
        }
    }
}
