package org.vdmount.mount.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.vdmount.mount.nbd.NbdServer;
import org.vdmount.mount.nbd.NbdServer.Export;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.OverlayDisk;
import org.vdmount.vd.Sizes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/**
 * {@code vd serve}: each IMAGE's chain as an NBD export (design.md section 5.1), in the
 * foreground until SIGTERM/SIGINT, which finish the requests in flight, flush and close.
 */
@Command(name = "serve",
        description = {"Serve each IMAGE's chain over NBD, read-only unless --rw, until SIGTERM or Ctrl-C.",
                "Fixed newstyle, structured replies, base:allocation, multi-conn. Each export is named after its",
                "image's file name (the first one is also the default export, the empty name); clients:",
                "qemu-img/qemu-io nbd://HOST:PORT/NAME, nbdinfo, nbdcopy, nbd-client, nbdfuse.",
                "The chain options, locks and --overlay work as for vdmount."})
final class ServeCommand extends VdCommand {
    static final int DEFAULT_PORT = 10809;

    @Option(names = "--rw", description = "Writable exports: writes land in the top image of each chain.")
    boolean readWrite;

    @Option(names = "--bind", paramLabel = "ADDR",
            description = "Address to listen on (default 127.0.0.1; 0.0.0.0 or :: serves other hosts).")
    String bind = "127.0.0.1";

    @Option(names = "--port", paramLabel = "N", description = "TCP port (default 10809; 0 = any free port).")
    Integer port;

    @Option(names = "--socket", paramLabel = "PATH", description = "Listen on this Unix socket instead of TCP.")
    Path socket;

    @Option(names = "--export", paramLabel = "NAME", description = "The export's name (one IMAGE only).")
    String exportName;

    @Option(names = "--overlay", paramLabel = "FILE",
            description = "Writable export whose writes go into FILE, a differencing image over IMAGE's "
                    + "read-only chain (as vdmount --overlay; created if missing).")
    Path overlay;

    @Mixin
    ImageFormatOption imageFormat;

    @Parameters(paramLabel = "IMAGE", arity = "1..*", description = "The images to serve (each the top of its chain).")
    List<Path> images;

    private final List<Disk> disks = new ArrayList<>();
    private NbdServer server;
    private boolean stopped;

    @Override
    public Integer call() throws Exception {
        SocketAddress address = address();
        if (exportName != null && images.size() != 1) {
            throw new ParameterException(spec.commandLine(), "--export names the export of one IMAGE (got "
                    + images.size() + ")");
        }
        if (overlay != null && (images.size() != 1 || readWrite)) {
            throw new ParameterException(spec.commandLine(), images.size() != 1
                    ? "--overlay takes exactly one IMAGE" : "--overlay already takes the writes; drop --rw");
        }
        OpenOptions options = vd.openOptions(common);
        if (options.forceShare() && (readWrite || overlay != null)) {
            throw new ParameterException(spec.commandLine(),
                    "--force-share reads without locks; it cannot be combined with --rw or --overlay");
        }
        if (options.allowTruncated() && readWrite) {
            throw new ParameterException(spec.commandLine(), "--allow-truncated opens a truncated image read-only; "
                    + "it cannot be combined with --rw (use --overlay FILE to take writes)");
        }
        options = options.withReadOnly(!readWrite);
        List<Export> exports = new ArrayList<>();
        try {
            List<String> names = exportNames();
            for (int i = 0; i < images.size(); i++) {
                Path image = images.get(i);
                Disk disk = overlay != null
                        ? OverlayDisk.open(overlay, image, imageFormat.format == null ? null
                                : FormatRegistry.require(imageFormat.format), options)
                        : imageFormat.open(image, options);
                disks.add(disk);
                exports.add(new Export(names.get(i), disk.top().format().name() + " image " + image, disk));
            }
            server = NbdServer.start(address, exports, this::log, m -> {
                if (vd.verbose(common)) {
                    log(m);
                }
            });
        } catch (IOException | RuntimeException e) {
            stop();
            throw e;
        }
        Thread hook = new Thread(this::stop, "vd-serve-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        vd.printWarnings();
        for (Export e : exports) {
            vd.err.println("vd: serving " + e.name() + " (" + (e.writable() ? "read-write" : "read-only") + ", "
                    + Sizes.human(e.disk().size()) + ") at " + server.uri(e.name()));
        }
        vd.err.flush();
        server.awaitClosed();
        stop();
        return 0;
    }

    private SocketAddress address() throws UnknownHostException {
        if (socket != null) {
            if (port != null) {
                throw new ParameterException(spec.commandLine(), "--port and --socket exclude each other");
            }
            return UnixDomainSocketAddress.of(socket.toAbsolutePath());
        }
        int p = port == null ? DEFAULT_PORT : port;
        if (p < 0 || p > 65535) {
            throw new ParameterException(spec.commandLine(), "--port " + p + " is not a TCP port");
        }
        return new InetSocketAddress(InetAddress.getByName(bind), p);
    }

    /** --export, or each image's file name; a repeated name gets -2, -3, ... */
    private List<String> exportNames() {
        List<String> out = new ArrayList<>();
        Set<String> used = new HashSet<>();
        for (Path p : images) {
            String base = exportName != null ? exportName : String.valueOf(p.toAbsolutePath().normalize().getFileName());
            String name = base;
            for (int n = 2; !used.add(name); n++) {
                name = base + "-" + n;
            }
            out.add(name);
        }
        return out;
    }

    private void log(String message) {
        synchronized (vd.err) {
            vd.err.println("vd: " + message.replaceFirst("^nbd: ", ""));
            vd.err.flush();
        }
    }

    /** Ends the server (requests in flight finish, writable disks flushed) and closes every disk; once. */
    private synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        try {
            if (server != null) {
                server.close();
            }
        } catch (IOException e) {
            vd.err.println("vd: closing the server: " + e.getMessage());
        }
        for (Disk d : disks) {
            try {
                d.flush();
                d.close();
            } catch (IOException e) {
                vd.err.println("vd: closing " + d.name() + ": " + e.getMessage());
            }
        }
        vd.err.flush();
    }
}
