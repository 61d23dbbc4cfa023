package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.mount.nbd.NbdServer;
import org.vdmount.mount.nbd.NbdServer.Export;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * The NBD server against real clients — qemu-img, qemu-io, libnbd's nbdinfo and nbdcopy — and
 * against a hand-written client for what well-behaved clients never send.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class NbdServerTest {
    private static final int MIB = 1024 * 1024;

    @TempDir
    Path dir;
    private final List<Disk> disks = new ArrayList<>();
    private final List<String> log = new ArrayList<>();
    private NbdServer server;

    @BeforeEach
    void tools() {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
    }

    @AfterEach
    void stop() throws IOException {
        if (server != null) {
            server.close();
        }
        for (Disk d : disks) {
            d.close();
        }
    }

    /** A 16 MiB qcow2: random data at 1 MiB and 9 MiB, a zeroed cluster, the rest unallocated. */
    private Path qcow2(String name) throws Exception {
        Path img = dir.resolve(name);
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "16M");
        Path data = dir.resolve(name + ".data");
        byte[] b = new byte[3 * MIB];
        new Random(name.hashCode()).nextBytes(b);
        Files.write(data, b);
        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 1M 512k", "-c", "write -P 0x7e 9M 2M",
                "-c", "write -z 12M 64k", img.toString());
        return img;
    }

    private Disk open(Path img, boolean writable) throws IOException {
        Disk d = Disk.open(img, writable ? OpenOptions.defaultReadWrite() : OpenOptions.defaultReadOnly());
        disks.add(d);
        return d;
    }

    private String serve(Path socket, Export... exports) throws IOException {
        server = NbdServer.start(UnixDomainSocketAddress.of(socket), List.of(exports), log::add, m -> { });
        return server.uri(exports[0].name());
    }

    private static String raw(String uri) {
        return "json:{\"driver\":\"raw\",\"file\":{\"filename\":\"" + uri + "\"}}";
    }

    @Test
    void aReadOnlyExportReadsAsTheImageForQemuAndLibnbd() throws Exception {
        Tools.require("nbdinfo");
        Tools.require("nbdcopy");
        Path img = qcow2("a.qcow2");
        Path sock = dir.resolve("s");
        String uri = serve(sock, new Export("a.qcow2", "test", open(img, false)));

        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", uri, img.toString());
        Path copy = dir.resolve("copy.raw");
        Tools.run("nbdcopy", uri, copy.toString());
        Path expected = dir.resolve("expected.raw");
        Tools.run("qemu-img", "convert", "-O", "raw", img.toString(), expected.toString());
        assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(copy));

        // base:allocation: data exactly where qemu-img map says the image holds data
        assertEquals(dataRanges(Tools.run("qemu-img", "map", "--output=json", img.toString())),
                dataRanges(Tools.run("qemu-img", "map", "--output=json", "-f", "raw", uri)));
        String map = Tools.run("nbdinfo", "--map", uri);
        assertTrue(map.contains("hole,zero"), map);

        String info = Tools.run("nbdinfo", uri);
        assertTrue(info.contains("is_read_only: true") && info.contains("can_multi_conn: true")
                && info.contains("export-size: " + 16 * MIB), info);
        String before = Tools.run("sha256sum", img.toString());
        Tools.Output w = Tools.exec(List.of("qemu-io", "-f", "raw", "-c", "write -P 0x99 0 512", uri));
        String said = w.out() + w.err();
        assertTrue(w.exit() != 0 && (said.contains("Permission denied") || said.contains("not permitted")), said);
        assertEquals(before, Tools.run("sha256sum", img.toString()));
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", uri, img.toString());
    }

    /** {start, end} of the runs holding data in qemu-img map's JSON, merged. */
    private static TreeMap<Long, Long> dataRanges(String json) {
        TreeMap<Long, Long> out = new TreeMap<>();
        for (String line : json.split("\n")) {
            if (!line.contains("\"data\": true")) {
                continue;
            }
            long start = Long.parseLong(line.replaceAll(".*\"start\": (\\d+).*", "$1"));
            long len = Long.parseLong(line.replaceAll(".*\"length\": (\\d+).*", "$1"));
            var prev = out.lastEntry();
            if (prev != null && prev.getValue() == start) {
                out.put(prev.getKey(), start + len);
            } else {
                out.put(start, start + len);
            }
        }
        return out;
    }

    @Test
    void writesThroughQemuIoAndNbdcopyLandInTheImage() throws Exception {
        Tools.require("nbdcopy");
        Path img = qcow2("w.qcow2");
        Path model = dir.resolve("model.raw");
        Tools.run("qemu-img", "convert", "-O", "raw", img.toString(), model.toString());
        Path sock = dir.resolve("s");
        String uri = serve(sock, new Export("w", "test", open(img, true)));

        Tools.run("qemu-io", "-f", "raw", "-c", "write -P 0x5a 100k 64k", "-c", "write -z 9M 1M",
                "-c", "write -P 0x33 -f 15M 4k", "-c", "discard 1M 512k", "-c", "flush", uri);
        Tools.run("qemu-io", "-f", "raw", "-c", "write -P 0x5a 100k 64k", "-c", "write -z 9M 1M",
                "-c", "write -P 0x33 15M 4k", "-c", "discard 1M 512k", model.toString());
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "raw", uri, model.toString());

        // a whole-disk write from a file, then the image itself after the server is gone
        byte[] b = Files.readAllBytes(model);
        new Random(3).nextBytes(b);
        for (int i = 4 * MIB; i < 6 * MIB; i++) {
            b[i] = 0;
        }
        Files.write(model, b);
        Tools.run("nbdcopy", model.toString(), uri);
        server.close();
        server = null;
        for (Disk d : disks) {
            d.close();
        }
        disks.clear();
        Tools.run("qemu-img", "check", img.toString());
        Tools.run("qemu-img", "compare", "-F", "raw", img.toString(), model.toString());
    }

    @Test
    void severalExportsOverTcpAreListedAndServedByName() throws Exception {
        Tools.require("nbdinfo");
        Path a = qcow2("a.qcow2");
        Path b = qcow2("b.qcow2");
        server = NbdServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                List.of(new Export("a.qcow2", "first", open(a, false)), new Export("b.qcow2", "second",
                        open(b, false))), log::add, m -> { });
        String list = Tools.run("nbdinfo", "--list", server.uri(""));
        assertTrue(list.contains("export=\"a.qcow2\"") && list.contains("export=\"b.qcow2\""), list);
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", server.uri("b.qcow2"), b.toString());
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", server.uri(""), a.toString());
        Tools.Output missing = Tools.exec(List.of("qemu-img", "info", "-f", "raw", server.uri("c.qcow2")));
        assertNotEquals(0, missing.exit());
        assertTrue(missing.err().contains("c.qcow2"), missing.err());
    }

    // ---- a hand-written client for what real clients never send -------------------------------

    /** A client past the handshake (NBD_OPT_GO of the default export, simple replies). */
    private static final class RawClient implements AutoCloseable {
        final SocketChannel ch;
        final DataInputStream in;
        final DataOutputStream out;
        long size;

        RawClient(Path socket) throws IOException {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(socket));
            InputStream is = Channels.newInputStream(ch);
            in = new DataInputStream(is);
            out = new DataOutputStream(Channels.newOutputStream(ch));
        }

        RawClient greeted() throws IOException {
            assertEquals(0x4e42444d41474943L, in.readLong());
            assertEquals(0x49484156454f5054L, in.readLong());
            assertEquals(3, in.readShort());
            out.writeInt(3);
            return this;
        }

        void option(int option, byte[] data) throws IOException {
            out.writeLong(0x49484156454f5054L);
            out.writeInt(option);
            out.writeInt(data.length);
            out.write(data);
            out.flush();
        }

        /** Reads option replies up to the final one; returns its type. */
        int replies(List<byte[]> payloads) throws IOException {
            while (true) {
                assertEquals(0x0003e889045565a9L, in.readLong());
                in.readInt();
                int type = in.readInt();
                byte[] p = new byte[in.readInt()];
                in.readFully(p);
                if (payloads != null) {
                    payloads.add(p);
                }
                if (type == 1 || type < 0) {
                    return type;
                }
                if (type == 3 && p.length >= 12 && p[0] == 0 && p[1] == 0) {
                    size = java.nio.ByteBuffer.wrap(p, 2, 8).getLong();
                }
            }
        }

        RawClient go(String name) throws IOException {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(6 + n.length).putInt(n.length).put(n).putShort((short) 0);
            option(7, b.array());
            assertEquals(1, replies(null));
            return this;
        }

        void request(int type, long cookie, long offset, int length) throws IOException {
            out.writeInt(0x25609513);
            out.writeShort(0);
            out.writeShort(type);
            out.writeLong(cookie);
            out.writeLong(offset);
            out.writeInt(length);
            out.flush();
        }

        /** A simple reply's error, after checking its cookie. */
        int simpleReply(long cookie) throws IOException {
            assertEquals(0x67446698, in.readInt());
            int error = in.readInt();
            assertEquals(cookie, in.readLong());
            return error;
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    @Test
    void protocolErrorsGetTheirErrnoAndViolationsEndOnlyThatClient() throws Exception {
        Path img = qcow2("p.qcow2");
        Path sock = dir.resolve("s");
        String uri = serve(sock, new Export("p", "test", open(img, false)));

        // a client that connects and then says nothing holds only its own connection
        try (RawClient idle = new RawClient(sock); RawClient c = new RawClient(sock).greeted().go("")) {
            assertEquals(16L * MIB, c.size);
            c.request(0, 7, 16L * MIB - 512, 1024); // READ past the end
            assertEquals(22, c.simpleReply(7));
            c.request(0, 8, 0, 64 * MIB); // READ larger than the advertised maximum
            assertEquals(22, c.simpleReply(8));
            c.request(1, 9, 0, 0); // WRITE to a read-only export
            assertEquals(1, c.simpleReply(9));
            c.request(7, 10, 0, 4096); // BLOCK_STATUS without a negotiated context
            assertEquals(22, c.simpleReply(10));
            c.request(0, 11, MIB, 4096); // a good READ still works, and returns the data
            assertEquals(0, c.simpleReply(11));
            byte[] data = new byte[4096];
            c.in.readFully(data);
            for (byte x : data) {
                assertEquals(0x11, x);
            }
            Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", uri, img.toString());

            c.out.writeInt(0xdeadbeef); // not a request: the server ends this connection
            c.out.write(new byte[24]);
            c.out.flush();
            assertThrows(EOFException.class, () -> c.in.readInt());
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("request magic")), log.toString());
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", uri, img.toString());
    }

    @Test
    void unknownOptionsAndExportsAreRefusedInTheHandshake() throws Exception {
        Path img = qcow2("h.qcow2");
        Path sock = dir.resolve("s");
        serve(sock, new Export("h", "test", open(img, false)));
        try (RawClient c = new RawClient(sock).greeted()) {
            c.option(99, new byte[0]);
            List<byte[]> p = new ArrayList<>();
            assertEquals(0x80000001, c.replies(p)); // NBD_REP_ERR_UNSUP, with a message
            assertTrue(new String(p.get(0), StandardCharsets.UTF_8).contains("99"));
            byte[] n = "nope".getBytes(StandardCharsets.UTF_8);
            c.option(7, java.nio.ByteBuffer.allocate(6 + n.length).putInt(n.length).put(n).putShort((short) 0).array());
            assertEquals(0x80000006, c.replies(null)); // NBD_REP_ERR_UNKNOWN
            c.option(10, new byte[8]); // SET_META_CONTEXT before STRUCTURED_REPLY
            assertEquals(0x80000003, c.replies(null));
            c.option(7, java.nio.ByteBuffer.allocate(6).putInt(0).putShort((short) 0).array());
            assertEquals(1, c.replies(null)); // the default export still works after all that
            c.request(2, 1, 0, 0); // DISC
            assertThrows(EOFException.class, () -> c.in.readInt());
        }
        try (RawClient c = new RawClient(sock).greeted()) {
            // larger than any option may be: closed (a reset, as the server leaves it unread), which the
            // client may already meet while still writing the option (broken pipe), or else on its read
            assertThrows(IOException.class, () -> {
                c.option(7, new byte[70 * 1024]);
                c.in.readLong();
            });
        }
    }
}
