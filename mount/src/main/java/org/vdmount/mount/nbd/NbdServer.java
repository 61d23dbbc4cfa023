package org.vdmount.mount.nbd;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;
import org.vdmount.vd.Disk;

/**
 * An NBD server (fixed newstyle, NBD's doc/proto.md) exporting opened disks over TCP or a Unix
 * socket. Each client gets its own threads ({@link NbdConnection}), so a slow or vanished client
 * holds only its own; the number of clients is bounded, as is each client's work in flight.
 * The server never closes the disks: whoever opened them does, after {@link #close()}.
 */
public final class NbdServer implements Closeable {

    /** One export: its name (what clients ask for), a description, and the disk behind it. */
    public record Export(String name, String description, Disk disk) {
        public boolean writable() {
            return !disk.readOnly();
        }
    }

    /** Clients served at once; one more is closed at accept. */
    static final int MAX_CLIENTS = 64;
    /** How long a client may take to finish the handshake. */
    static final long HANDSHAKE_SECONDS = 30;

    private final ServerSocketChannel listener;
    private final SocketAddress address;
    private final Path socketFile;
    private final Map<String, Export> exports;
    private final Consumer<String> log;
    private final Consumer<String> events;
    private final Set<NbdConnection> clients = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService timer;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Thread acceptor;
    private volatile boolean closing;

    private NbdServer(ServerSocketChannel listener, SocketAddress address, Path socketFile,
                      Map<String, Export> exports, Consumer<String> log, Consumer<String> events) {
        this.listener = listener;
        this.events = events;
        this.address = address;
        this.socketFile = socketFile;
        this.exports = exports;
        this.log = log;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "nbd-handshake-timer"));
        this.acceptor = daemon(this::acceptLoop, "nbd-accept");
    }

    /**
     * Listens on {@code address} (an {@link InetSocketAddress}, port 0 for any, or a
     * {@link UnixDomainSocketAddress} whose file must not exist) and starts serving. The first
     * export is also the default one (the empty name). {@code log} gets what an operator must
     * see (protocol violations, failures), {@code events} the rest (clients coming and going).
     */
    public static NbdServer start(SocketAddress address, List<Export> exports, Consumer<String> log,
                                  Consumer<String> events) throws IOException {
        if (exports.isEmpty()) {
            throw new IllegalArgumentException("nothing to export");
        }
        Map<String, Export> byName = new LinkedHashMap<>();
        for (Export e : exports) {
            if (byName.putIfAbsent(e.name(), e) != null) {
                throw new IllegalArgumentException("two exports named '" + e.name() + "'");
            }
        }
        Path socketFile = null;
        ServerSocketChannel ch;
        if (address instanceof UnixDomainSocketAddress unix) {
            socketFile = unix.getPath();
            if (Files.exists(socketFile, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                throw new java.nio.file.FileAlreadyExistsException(socketFile.toString(), null,
                        "already exists (remove it if no server uses it)");
            }
            ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        } else {
            ch = ServerSocketChannel.open();
            ch.setOption(StandardSocketOptions.SO_REUSEADDR, true);
        }
        try {
            ch.bind(address, 16);
        } catch (IOException e) {
            ch.close();
            throw new IOException("cannot listen on " + describe(address) + ": " + e.getMessage(), e);
        }
        NbdServer server = new NbdServer(ch, ch.getLocalAddress(), socketFile, byName, log, events);
        server.acceptor.start();
        return server;
    }

    /** Where the server listens (the real port when 0 was asked for). */
    public SocketAddress address() {
        return address;
    }

    /** The URI a client (qemu, libnbd) uses for {@code export}. */
    public String uri(String export) {
        if (address instanceof UnixDomainSocketAddress unix) {
            return "nbd+unix:///" + export + "?socket=" + unix.getPath();
        }
        InetSocketAddress in = (InetSocketAddress) address;
        String host = in.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return "nbd://" + host + ":" + in.getPort() + "/" + export;
    }

    static String describe(SocketAddress a) {
        return a instanceof UnixDomainSocketAddress u ? u.getPath().toString() : a.toString();
    }

    /** The export a client asked for by name; the empty name is the first export. */
    Export export(String name) {
        if (name.isEmpty()) {
            return exports.values().iterator().next();
        }
        return exports.get(name);
    }

    List<Export> exports() {
        return new ArrayList<>(exports.values());
    }

    ScheduledExecutorService timer() {
        return timer;
    }

    void log(String message) {
        log.accept(message);
    }

    void event(String message) {
        events.accept(message);
    }

    private void acceptLoop() {
        try {
            while (!closing) {
                SocketChannel c = listener.accept();
                if (closing) {
                    c.close();
                    break;
                }
                if (clients.size() >= MAX_CLIENTS) {
                    log("nbd: refusing a client: " + MAX_CLIENTS + " clients are connected");
                    c.close();
                    continue;
                }
                if (!(address instanceof UnixDomainSocketAddress)) {
                    c.setOption(StandardSocketOptions.TCP_NODELAY, true);
                }
                NbdConnection conn = new NbdConnection(this, c);
                clients.add(conn);
                daemon(() -> {
                    try {
                        conn.run();
                    } finally {
                        clients.remove(conn);
                    }
                }, "nbd-client").start();
            }
        } catch (ClosedChannelException e) {
            // close() stopped the listener
        } catch (IOException e) {
            if (!closing) {
                log("nbd: accept failed: " + e.getMessage());
            }
        }
    }

    /**
     * Stops accepting, ends every connection (each finishes the requests it has read, then
     * flushes its disk if writable), and removes the socket file. Idempotent.
     */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closing) {
                awaitClosed();
                return;
            }
            closing = true;
        }
        try {
            listener.close();
            for (NbdConnection c : List.copyOf(clients)) {
                c.shutdown();
            }
            for (NbdConnection c : List.copyOf(clients)) {
                c.awaitEnd();
            }
            timer.shutdownNow();
            if (socketFile != null) {
                Files.deleteIfExists(socketFile);
            }
        } finally {
            closed.countDown();
        }
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitClosed() {
        boolean interrupted = false;
        while (true) {
            try {
                closed.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }
}
