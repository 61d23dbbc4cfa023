package org.vdmount.mount.nbd;

import static org.vdmount.mount.nbd.NbdProtocol.*;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.vdmount.mount.nbd.NbdServer.Export;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;

/**
 * Coverage-guided fuzzing of the NBD server (Jazzer): the input is everything one client sends on
 * one connection, optionally after a well-formed handshake (fixed newstyle, structured replies,
 * {@code base:allocation}, OPT_GO for the default export) so that it starts in transmission. The
 * server runs once per JVM on a Unix socket with a writable qcow2 export (the default) and a
 * read-only one. Oracle: once the client has sent its bytes and shut its side, the server answers
 * and closes the connection within {@link #END_SECONDS} (no hang, whatever half-request it was
 * left with), no server thread dies of an exception (which would leave a request unanswered), and
 * everything it logs is one line. The next input connecting proves the server still accepts.
 * {@code mvn test} replays {@code NbdFuzzTestInputs/connection}; {@code campaigns/fuzz.sh} fuzzes.
 */
class NbdFuzzTest {
    static final long END_SECONDS = 10;

    @FuzzTest(maxDuration = "10s")
    void connection(FuzzedDataProvider in) throws Exception {
        boolean handshake = in.consumeBoolean();
        byte[] sent = in.consumeRemainingAsBytes();
        Served s = Served.get();
        s.clear();
        try (SocketChannel c = SocketChannel.open(s.address)) {
            Drain drain = new Drain(c);
            drain.start();
            try {
                if (handshake) {
                    write(c, Served.HANDSHAKE);
                }
                write(c, sent);
                c.shutdownOutput();
            } catch (IOException e) {
                // the server closed the connection while the rest was being sent (a violation ends it)
            }
            drain.join(TimeUnit.SECONDS.toMillis(END_SECONDS));
            if (drain.isAlive()) {
                throw new AssertionError("the server did not close the connection " + END_SECONDS
                        + " s after the client stopped sending (" + drain.received + " bytes answered)");
            }
        }
        s.check();
    }

    private static void write(SocketChannel c, byte[] b) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(b);
        while (buf.hasRemaining()) {
            c.write(buf);
        }
    }

    /** Reads (and drops) what the server sends until it closes, so that it never blocks on a full socket. */
    private static final class Drain extends Thread {
        private final SocketChannel channel;
        volatile long received;

        Drain(SocketChannel channel) {
            super("nbd-fuzz-drain");
            setDaemon(true);
            this.channel = channel;
        }

        @Override
        public void run() {
            ByteBuffer b = ByteBuffer.allocate(64 * 1024);
            try {
                int n;
                while ((n = channel.read(b.clear())) >= 0) {
                    received += n;
                }
            } catch (IOException e) {
                // reset by the server: closed as well
            }
        }
    }

    /** The server of this JVM: started at the first input, never closed (the JVM's end ends it). */
    private static final class Served {
        /** Client flags, STRUCTURED_REPLY, SET_META_CONTEXT base:allocation, GO for the default export. */
        static final byte[] HANDSHAKE = handshake();
        private static Served instance;

        final UnixDomainSocketAddress address;
        final List<String> log = new CopyOnWriteArrayList<>();
        final List<Throwable> died = new CopyOnWriteArrayList<>();

        private Served(UnixDomainSocketAddress address) {
            this.address = address;
        }

        static synchronized Served get() {
            if (instance == null) {
                try {
                    instance = start();
                } catch (IOException e) {
                    throw new UncheckedIOException("fuzz harness: starting the NBD server", e);
                }
            }
            return instance;
        }

        private static Served start() throws IOException {
            Path dir = Files.createTempDirectory("vdfuzz-nbd");
            Path rw = dir.resolve("rw.qcow2");
            Path ro = dir.resolve("ro.qcow2");
            for (Path p : new Path[] {rw, ro}) {
                FormatRegistry.require("qcow2").create(p, CreateOptions.of(4 << 20).with("cluster_size", "4k")).close();
                try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
                    byte[] data = new byte[8192];
                    java.util.Arrays.fill(data, (byte) 0x3C);
                    d.write(1 << 20, ByteBuffer.wrap(data));
                    d.write(3 << 20, ByteBuffer.wrap(data));
                    d.flush();
                }
            }
            Served s = new Served(UnixDomainSocketAddress.of(dir.resolve("nbd.sock")));
            Thread.setDefaultUncaughtExceptionHandler((t, e) -> s.died.add(e));
            Disk rwDisk = Disk.open(rw, OpenOptions.defaultReadWrite());
            Disk roDisk = Disk.open(ro, OpenOptions.defaultReadOnly());
            NbdServer.start(s.address, List.of(new Export("rw", "writable", rwDisk),
                    new Export("ro", "read-only", roDisk)), s.log::add, s.log::add);
            return s;
        }

        void clear() {
            log.clear();
            died.clear();
        }

        void check() {
            if (!died.isEmpty()) {
                throw new AssertionError("a server thread died: " + died.get(0), died.get(0));
            }
            for (String m : new ArrayList<>(log)) {
                if (m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0) {
                    throw new AssertionError("a log message spans lines: " + m);
                }
            }
        }

        private static byte[] handshake() {
            byte[] ctx = BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
            ByteBuffer b = ByteBuffer.allocate(256);
            b.putInt(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES);
            b.putLong(IHAVEOPT).putInt(OPT_STRUCTURED_REPLY).putInt(0);
            b.putLong(IHAVEOPT).putInt(OPT_SET_META_CONTEXT).putInt(4 + 4 + 4 + ctx.length)
                    .putInt(0).putInt(1).putInt(ctx.length).put(ctx);
            b.putLong(IHAVEOPT).putInt(OPT_GO).putInt(4 + 2).putInt(0).putShort((short) 0);
            return java.util.Arrays.copyOf(b.array(), b.position());
        }
    }
}
