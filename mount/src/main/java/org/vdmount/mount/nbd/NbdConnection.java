package org.vdmount.mount.nbd;

import static org.vdmount.mount.nbd.NbdProtocol.*;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.vdmount.mount.nbd.NbdServer.Export;

/**
 * One client: the option haggling of the fixed newstyle handshake, then transmission. One
 * thread reads requests; up to {@link #IN_FLIGHT} of them run at once on this connection's own
 * workers, each with a slot (reusable buffers), and their replies go out whole under one lock,
 * in whatever order they finish (the protocol matches them by cookie).
 */
final class NbdConnection {
    /** Requests of one client running at once; the reader waits for a free slot beyond that. */
    static final int IN_FLIGHT = 8;

    private final NbdServer server;
    private final SocketChannel channel;
    private final String peer;
    private final ByteBuffer in = ByteBuffer.allocateDirect(REQUEST_HEADER);
    private final ByteBuffer out = ByteBuffer.allocateDirect(64);
    private final ReentrantLock sendLock = new ReentrantLock();
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile boolean structured;

    NbdConnection(NbdServer server, SocketChannel channel) {
        this.server = server;
        this.channel = channel;
        String p;
        try {
            p = NbdServer.describe(channel.getRemoteAddress());
        } catch (IOException e) {
            p = "a client";
        }
        this.peer = p.isEmpty() ? "a local client" : p;
    }

    void run() {
        ScheduledFuture<?> deadline = server.timer().schedule(this::shutdown, NbdServer.HANDSHAKE_SECONDS,
                TimeUnit.SECONDS);
        try {
            Negotiated n = new Handshake().run();
            deadline.cancel(false);
            if (n != null) {
                server.event("nbd: " + peer + " uses export '" + n.export().name() + "'");
                transmit(n);
            }
        } catch (EOFException | AsynchronousCloseException e) {
            // the client went away, or the server is closing
        } catch (ProtocolViolation e) {
            server.log("nbd: " + peer + ": " + e.getMessage() + "; connection closed");
        } catch (IOException e) {
            server.event("nbd: " + peer + " went away: " + e.getMessage()); // reset, broken pipe
        } finally {
            deadline.cancel(false);
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing left to tell the client
            }
            ended.countDown();
        }
    }

    /** Makes the reader stop: the requests already read still finish. */
    void shutdown() {
        try {
            channel.shutdownInput();
        } catch (IOException e) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    void awaitEnd() {
        try {
            ended.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A client broke the protocol in a way that leaves nothing sensible to answer. */
    static final class ProtocolViolation extends IOException {
        ProtocolViolation(String message) {
            super(message);
        }
    }

    /** What the handshake settled: the export, and whether replies are structured with base:allocation on. */
    record Negotiated(Export export, boolean allocation) {
    }

    // ---- I/O helpers ------------------------------------------------------------------------

    private void readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException();
            }
        }
    }

    private void writeFully(ByteBuffer... bufs) throws IOException {
        long left = 0;
        for (ByteBuffer b : bufs) {
            left += b.remaining();
        }
        while (left > 0) {
            left -= channel.write(bufs);
        }
    }

    private static String utf8(ByteBuffer b, int length) throws ProtocolViolation {
        if (length < 0 || length > b.remaining()) {
            throw new ProtocolViolation("a string of " + (length & 0xffffffffL) + " bytes runs past its option");
        }
        byte[] s = new byte[length];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    // ---- Handshake ("Newstyle negotiation", "Option haggling") ------------------------------

    private final class Handshake {
        private boolean fixed;
        private boolean noZeroes;
        private String metaExport;
        private boolean allocation;

        Negotiated run() throws IOException {
            out.clear();
            out.putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)).flip();
            writeFully(out);
            ByteBuffer flags = ByteBuffer.allocate(4);
            readFully(flags);
            int clientFlags = flags.getInt(0);
            if ((clientFlags & ~(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES)) != 0) {
                throw new ProtocolViolation("unknown client flags 0x" + Integer.toHexString(clientFlags));
            }
            fixed = (clientFlags & CLIENT_FIXED_NEWSTYLE) != 0;
            noZeroes = (clientFlags & CLIENT_NO_ZEROES) != 0;
            ByteBuffer head = ByteBuffer.allocate(16);
            while (true) {
                head.clear();
                readFully(head);
                if (head.getLong(0) != IHAVEOPT) {
                    throw new ProtocolViolation("an option without the IHAVEOPT magic");
                }
                int option = head.getInt(8);
                long length = head.getInt(12) & 0xffffffffL;
                if (length > MAX_OPTION) {
                    throw new ProtocolViolation("option " + option + " of " + length + " bytes (at most "
                            + MAX_OPTION + ")");
                }
                ByteBuffer data = ByteBuffer.allocate((int) length);
                readFully(data);
                data.flip();
                Negotiated done = option(option, data);
                if (done != null) {
                    return done.export() == null ? null : done;
                }
            }
        }

        /** Answers one option; a non-null result ends the handshake (a null export: end the connection). */
        private Negotiated option(int option, ByteBuffer data) throws IOException {
            switch (option) {
                case OPT_EXPORT_NAME -> {
                    Export e = server.export(utf8(data, data.remaining()));
                    if (e == null) {
                        return new Negotiated(null, false); // no way to say why: the protocol closes
                    }
                    ByteBuffer r = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
                    r.putLong(e.disk().size()).putShort((short) transmissionFlags(e)).position(0);
                    writeFully(r);
                    return new Negotiated(e, false);
                }
                case OPT_ABORT -> {
                    reply(option, REP_ACK, null);
                    return new Negotiated(null, false);
                }
                case OPT_LIST -> {
                    if (data.hasRemaining()) {
                        return error(option, REP_ERR_INVALID, "LIST takes no data");
                    }
                    for (Export e : server.exports()) {
                        byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
                        byte[] desc = e.description().getBytes(StandardCharsets.UTF_8);
                        ByteBuffer r = ByteBuffer.allocate(4 + name.length + desc.length);
                        r.putInt(name.length).put(name).put(desc).flip();
                        reply(option, REP_SERVER, r);
                    }
                    reply(option, REP_ACK, null);
                    return null;
                }
                case OPT_INFO, OPT_GO -> {
                    return infoOrGo(option, data);
                }
                case OPT_STRUCTURED_REPLY -> {
                    if (data.hasRemaining()) {
                        return error(option, REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
                    }
                    structured = true;
                    reply(option, REP_ACK, null);
                    return null;
                }
                case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> {
                    return metaContext(option, data);
                }
                case OPT_STARTTLS -> {
                    return error(option, REP_ERR_UNSUP, "TLS is not supported by this server");
                }
                default -> {
                    if (!fixed) {
                        throw new ProtocolViolation("unknown option " + option + " from a client without "
                                + "fixed newstyle");
                    }
                    return error(option, REP_ERR_UNSUP, "option " + option + " is not supported");
                }
            }
        }

        private Negotiated infoOrGo(int option, ByteBuffer data) throws IOException {
            if (data.remaining() < 6) {
                return error(option, REP_ERR_INVALID, "INFO/GO needs a name and a request count");
            }
            int nameLength = data.getInt();
            if (nameLength < 0 || nameLength > MAX_STRING || nameLength > data.remaining() - 2) {
                return error(option, REP_ERR_INVALID, "export name length " + nameLength + " does not fit");
            }
            String name = utf8(data, nameLength);
            int requests = data.getShort() & 0xffff;
            if (data.remaining() != 2 * requests) {
                return error(option, REP_ERR_INVALID, requests + " information requests do not fit the option");
            }
            boolean wantName = false;
            boolean wantDescription = false;
            for (int i = 0; i < requests; i++) {
                int what = data.getShort() & 0xffff;
                wantName |= what == INFO_NAME;
                wantDescription |= what == INFO_DESCRIPTION;
            }
            Export e = server.export(name);
            if (e == null) {
                return error(option, REP_ERR_UNKNOWN, "no export named '" + name + "'");
            }
            ByteBuffer r = ByteBuffer.allocate(12);
            r.putShort((short) INFO_EXPORT).putLong(e.disk().size()).putShort((short) transmissionFlags(e)).flip();
            reply(option, REP_INFO, r);
            if (wantName) {
                byte[] n = e.name().getBytes(StandardCharsets.UTF_8);
                reply(option, REP_INFO, ByteBuffer.allocate(2 + n.length).putShort((short) INFO_NAME).put(n).flip());
            }
            if (wantDescription && !e.description().isEmpty()) {
                byte[] d = e.description().getBytes(StandardCharsets.UTF_8);
                reply(option, REP_INFO,
                        ByteBuffer.allocate(2 + d.length).putShort((short) INFO_DESCRIPTION).put(d).flip());
            }
            ByteBuffer bs = ByteBuffer.allocate(14);
            bs.putShort((short) INFO_BLOCK_SIZE).putInt(1).putInt(PREFERRED_BLOCK).putInt(MAX_PAYLOAD).flip();
            reply(option, REP_INFO, bs);
            reply(option, REP_ACK, null);
            if (option == OPT_INFO) {
                return null;
            }
            boolean on = allocation && structured && name.equals(metaExport);
            return new Negotiated(e, on);
        }

        private Negotiated metaContext(int option, ByteBuffer data) throws IOException {
            if (!structured) {
                return error(option, REP_ERR_INVALID, "metadata contexts need structured replies first");
            }
            if (data.remaining() < 8) {
                return error(option, REP_ERR_INVALID, "a metadata context option needs a name and a query count");
            }
            int nameLength = data.getInt();
            if (nameLength < 0 || nameLength > MAX_STRING || nameLength > data.remaining() - 4) {
                return error(option, REP_ERR_INVALID, "export name length " + nameLength + " does not fit");
            }
            String name = utf8(data, nameLength);
            int queries = data.getInt();
            boolean base = false;
            boolean all = queries == 0;
            for (int i = 0; i < queries; i++) {
                if (data.remaining() < 4) {
                    return error(option, REP_ERR_INVALID, "query " + i + " runs past the option");
                }
                int len = data.getInt();
                if (len < 0 || len > MAX_STRING || len > data.remaining()) {
                    return error(option, REP_ERR_INVALID, "query " + i + " of " + len + " bytes does not fit");
                }
                String q = utf8(data, len);
                base |= q.equals(BASE_ALLOCATION);
                all |= option == OPT_LIST_META_CONTEXT && q.equals("base:");
            }
            if (data.hasRemaining()) {
                return error(option, REP_ERR_INVALID, "bytes left after the queries");
            }
            if (server.export(name) == null) {
                return error(option, REP_ERR_UNKNOWN, "no export named '" + name + "'");
            }
            boolean selected = base || (option == OPT_LIST_META_CONTEXT && all);
            if (option == OPT_SET_META_CONTEXT) {
                metaExport = name;
                allocation = base;
            }
            if (selected) {
                byte[] ctx = BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
                int id = option == OPT_SET_META_CONTEXT ? 1 : 0;
                reply(option, REP_META_CONTEXT, ByteBuffer.allocate(4 + ctx.length).putInt(id).put(ctx).flip());
            }
            reply(option, REP_ACK, null);
            return null;
        }

        private Negotiated error(int option, int type, String message) throws IOException {
            reply(option, type, ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8)));
            return null;
        }

        private void reply(int option, int type, ByteBuffer data) throws IOException {
            ByteBuffer h = ByteBuffer.allocate(20);
            h.putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(type).putInt(data == null ? 0 : data.remaining()).flip();
            if (data == null) {
                writeFully(h);
            } else {
                writeFully(h, data);
            }
        }
    }

    static int transmissionFlags(Export e) {
        int f = TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA | TF_SEND_DF | TF_CAN_MULTI_CONN;
        // Every connection shares one Disk, and FLUSH makes all of its completed writes durable:
        // multi-conn is safe (proto.md, NBD_FLAG_CAN_MULTI_CONN).
        if (e.writable()) {
            f |= TF_SEND_TRIM | TF_SEND_WRITE_ZEROES;
        } else {
            f |= TF_READ_ONLY;
        }
        return f;
    }

    // ---- Transmission ---------------------------------------------------------------------

    /** A request's reusable buffers: its payload and its reply header. */
    static final class Slot {
        ByteBuffer data = ByteBuffer.allocateDirect(128 * 1024);
        final ByteBuffer head = ByteBuffer.allocateDirect(64);
        long offset;

        ByteBuffer payload(int length) {
            if (data.capacity() < length) {
                data = ByteBuffer.allocateDirect(Math.max(length, Math.min(MAX_PAYLOAD, data.capacity() * 2)));
            }
            data.clear().limit(length);
            return data;
        }
    }

    private void transmit(Negotiated n) throws IOException {
        NbdRequests requests = new NbdRequests(n.export(), n.allocation(), structured);
        BlockingQueue<Slot> slots = new ArrayBlockingQueue<>(IN_FLIGHT);
        for (int i = 0; i < IN_FLIGHT; i++) {
            slots.add(new Slot());
        }
        ExecutorService workers = new ThreadPoolExecutor(IN_FLIGHT, IN_FLIGHT, 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> NbdServer.daemon(r, "nbd-worker"));
        ((ThreadPoolExecutor) workers).allowCoreThreadTimeOut(true);
        try {
            while (true) {
                in.clear();
                try {
                    readFully(in);
                } catch (EOFException e) {
                    break; // the client went away without DISC (or the server is closing)
                }
                in.flip();
                if (in.getInt(0) != REQUEST_MAGIC) {
                    throw new ProtocolViolation("a request without the request magic");
                }
                int flags = in.getShort(4) & 0xffff;
                int type = in.getShort(6) & 0xffff;
                long cookie = in.getLong(8);
                long offset = in.getLong(16);
                long length = in.getInt(24) & 0xffffffffL;
                if (type == CMD_DISC) {
                    break;
                }
                if (type == CMD_WRITE && length > MAX_PAYLOAD) {
                    throw new ProtocolViolation("a write of " + length + " bytes (at most " + MAX_PAYLOAD + ")");
                }
                Slot slot = takeSlot(slots);
                slot.offset = offset;
                if (type == CMD_WRITE) {
                    readFully(slot.payload((int) length));
                    slot.data.flip();
                }
                workers.execute(() -> {
                    try {
                        requests.handle(slot, flags, type, offset, length,
                                (err, chunk) -> send(slot, cookie, type, err, chunk));
                    } catch (IOException e) {
                        shutdown(); // the reply could not be sent: the connection is gone
                    } finally {
                        slots.add(slot);
                    }
                });
            }
        } finally {
            workers.shutdown();
            try {
                while (!workers.awaitTermination(10, TimeUnit.SECONDS)) {
                    server.log("nbd: " + peer + ": waiting for requests in flight");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            requests.finish();
        }
    }

    private static Slot takeSlot(BlockingQueue<Slot> slots) throws IOException {
        try {
            return slots.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted");
        }
    }

    /** What a handled request answers: an error (0 = none) and, for READ/BLOCK_STATUS, a payload. */
    interface Reply {
        void send(int error, ByteBuffer payload) throws IOException;
    }

    /**
     * Sends one reply whole. Structured replies carry READ data and block status (one chunk with
     * DONE; an error chunk on failure); everything else, and every reply of a client without
     * structured replies, is a simple reply.
     */
    private void send(Slot slot, long cookie, int type, int error, ByteBuffer payload) throws IOException {
        ByteBuffer h = slot.head.clear();
        ByteBuffer body = null;
        boolean chunked = structured && (type == CMD_READ || type == CMD_BLOCK_STATUS);
        if (!chunked) {
            h.putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
            if (error == 0 && type == CMD_READ) {
                body = payload;
            }
        } else if (error != 0) {
            h.putInt(STRUCTURED_REPLY_MAGIC).putShort((short) REPLY_FLAG_DONE).putShort((short) REPLY_TYPE_ERROR)
                    .putLong(cookie).putInt(6).putInt(error).putShort((short) 0);
        } else if (type == CMD_READ) {
            h.putInt(STRUCTURED_REPLY_MAGIC).putShort((short) REPLY_FLAG_DONE)
                    .putShort((short) REPLY_TYPE_OFFSET_DATA).putLong(cookie).putInt(8 + payload.remaining())
                    .putLong(slot.offset);
            body = payload;
        } else {
            h.putInt(STRUCTURED_REPLY_MAGIC).putShort((short) REPLY_FLAG_DONE)
                    .putShort((short) REPLY_TYPE_BLOCK_STATUS).putLong(cookie).putInt(payload.remaining());
            body = payload;
        }
        h.flip();
        sendLock.lock();
        try {
            if (body == null) {
                writeFully(h);
            } else {
                writeFully(h, body);
            }
        } finally {
            sendLock.unlock();
        }
    }
}
