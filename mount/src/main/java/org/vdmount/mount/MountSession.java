package org.vdmount.mount;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vdmount.mount.fuse.FuseBindingProvider;
import org.vdmount.vd.Image;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.crypto.KeyStoreSource;
import org.vdmount.vd.crypto.SecretSource;
import org.vdmount.vd.VdException;
import org.vdmount.vd.nativeio.Posix;

/**
 * One mount from start to end: open the images, mount through the chosen FUSE binding, report
 * readiness, serve, and on unmount or SIGTERM flush and close everything. Knows no binding: the
 * {@link FuseBindingProvider} handed to {@link #start} supplies the transport and its options.
 */
public final class MountSession {
    private static final Logger LOG = LoggerFactory.getLogger(MountSession.class);
    private static final long READY_TIMEOUT_MS = 60_000;
    private static final long SHUTDOWN_WAIT_MS = 15_000;

    /**
     * What to mount and how.
     *
     * @param allowAbsoluteParents follow absolute parent locators outside the search directories
     * @param ignoreParentUuid     accept parents whose UUID/CID does not match (with a warning)
     * @param snapshot             internal snapshot (id or name) to show read-only, or null
     * @param format               the images' format (no probe; their parents are still probed), or null
     * @param overlay              differencing image that takes the writes over the (read-only)
     *                             image's chain ({@link OverlayDisk}), or null
     * @param allowTruncated       open image files cut short read-only, data past the cut as zeros
     *                             ({@link OpenOptions#allowTruncated()}); not with {@code readWrite}
     * @param secrets              the password of encrypted images ({@link OpenOptions#secrets()})
     * @param keyStores            the VirtualBox key store of encrypted VDI/VMDK/VHD images
     *                             ({@link OpenOptions#keyStores()})
     */
    public record Config(List<Path> images, Path mountpoint, boolean readWrite, List<Path> parentDirs,
                         List<String> extraOptions, boolean allowAbsoluteParents, boolean ignoreParentUuid,
                         String snapshot, boolean forceShare, String format, Path overlay, boolean allowTruncated,
                         SecretSource secrets, KeyStoreSource keyStores) {
        public Config {
            secrets = secrets == null ? SecretSource.NONE : secrets;
            keyStores = keyStores == null ? KeyStoreSource.NONE : keyStores;
            images = List.copyOf(images);
            parentDirs = List.copyOf(parentDirs);
            extraOptions = List.copyOf(extraOptions);
        }

        public Config(List<Path> images, Path mountpoint, boolean readWrite, List<Path> parentDirs,
                      List<String> extraOptions, boolean allowAbsoluteParents, boolean ignoreParentUuid,
                      String snapshot, boolean forceShare) {
            this(images, mountpoint, readWrite, parentDirs, extraOptions, allowAbsoluteParents, ignoreParentUuid,
                    snapshot, forceShare, null, null, false, null, null);
        }

        /** Without a VirtualBox key store. */
        public Config(List<Path> images, Path mountpoint, boolean readWrite, List<Path> parentDirs,
                      List<String> extraOptions, boolean allowAbsoluteParents, boolean ignoreParentUuid,
                      String snapshot, boolean forceShare, String format, Path overlay, boolean allowTruncated,
                      SecretSource secrets) {
            this(images, mountpoint, readWrite, parentDirs, extraOptions, allowAbsoluteParents, ignoreParentUuid,
                    snapshot, forceShare, format, overlay, allowTruncated, secrets, null);
        }

        /** Whether the mount takes writes: {@code --rw}, or an overlay that receives them. */
        public boolean writable() {
            return readWrite || overlay != null;
        }

        public Config(List<Path> images, Path mountpoint, boolean readWrite, List<Path> parentDirs,
                      List<String> extraOptions) {
            this(images, mountpoint, readWrite, parentDirs, extraOptions, false, false, null, false, null, null, false, null);
        }
    }

    private final Config config;
    private final List<Volume> volumes;
    private final VdFileSystem fs;
    private volatile FuseBindingProvider transport;
    private final CountDownLatch loopDone = new CountDownLatch(1);
    private volatile int loopStatus = -1;
    private volatile Throwable loopFailure;
    private boolean closed;

    private MountSession(Config config, List<Volume> volumes) {
        this.config = config;
        this.volumes = volumes;
        this.fs = new VdFileSystem(volumes, directoryNames(config.images()), !config.writable(),
                Posix.uid(), Posix.gid());
    }

    /** Checks the mountpoint and opens every image; on failure nothing stays open. */
    public static MountSession open(Config config, Consumer<String> warnings) throws IOException {
        Path mp = config.mountpoint();
        Optional<MountTable.Entry> mounted = MountTable.at(mp);
        if (mounted.isPresent()) {
            throw new VdException(mp + ": already a mount point (" + mounted.get().fsType() + " from "
                    + mounted.get().source() + "); unmount it first (umount " + mp + ") or choose another directory");
        }
        if (!Files.exists(mp)) {
            throw new VdException("mountpoint " + mp + " does not exist (create it first: mkdir -p " + mp + ")");
        }
        if (!Files.isDirectory(mp)) {
            throw new NotDirectoryException(mp + ": mountpoint is not a directory");
        }
        boolean nonempty = config.extraOptions().stream().flatMap(o -> List.of(o.split(",")).stream())
                .anyMatch(o -> o.strip().equals("nonempty"));
        if (!nonempty) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(mp)) {
                if (ds.iterator().hasNext()) {
                    throw new VdException(mp + ": mountpoint is not empty (add -o nonempty to mount over it)");
                }
            }
        }
        if (config.snapshot() != null && config.readWrite()) {
            throw new VdException("--snapshot shows a snapshot read-only; it cannot be combined with --rw");
        }
        if (config.readWrite() && optionItems(config.extraOptions()).contains("ro")) {
            throw new VdException("-o ro contradicts --rw: give one of them");
        }
        if (config.allowTruncated() && config.readWrite()) {
            throw new VdException("--allow-truncated opens a truncated image read-only; it cannot be combined with "
                    + "--rw (use --overlay FILE to take writes)");
        }
        if (config.forceShare() && config.readWrite()) {
            throw new VdException("--force-share opens the images read-only; it cannot be combined with --rw");
        }
        checkOverlay(config);
        ImageFormat format = config.format() == null ? null : FormatRegistry.require(config.format());
        OpenOptions options = new OpenOptions(!config.readWrite(), config.parentDirs(),
                config.allowAbsoluteParents(), config.ignoreParentUuid(), warnings, config.forceShare(),
                config.allowTruncated(), config.secrets(), config.keyStores());
        List<Volume> opened = new ArrayList<>();
        try {
            for (Path image : config.images()) {
                opened.add(config.overlay() != null ? Volume.overlay(image, format, config.overlay(), options)
                        : Volume.open(image, format, options, config.snapshot()));
            }
            checkDistinct(opened, config.writable());
            return new MountSession(config, opened);
        } catch (IOException | RuntimeException e) {
            for (Volume v : opened) {
                try {
                    v.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /**
     * An overlay is one differencing image over one chain: several IMAGEs are refused (each
     * needs its own overlay: mount them one by one), and so are the options that mean reading only.
     */
    private static void checkOverlay(Config config) throws VdException {
        if (config.overlay() == null) {
            return;
        }
        if (config.images().size() != 1) {
            throw new VdException("--overlay takes exactly one IMAGE (got " + config.images().size()
                    + "); mount each image with its own overlay");
        }
        if (config.snapshot() != null) {
            throw new VdException("--overlay cannot be combined with --snapshot");
        }
        if (config.forceShare()) {
            throw new VdException("--overlay writes into " + config.overlay()
                    + "; it cannot be combined with --force-share");
        }
    }

    /**
     * The same image twice, or (read/write) one image's top being another's parent, would corrupt
     * it. Compared over every file of each image (extents, data files), by real path.
     */
    private static void checkDistinct(List<Volume> volumes, boolean readWrite) throws IOException {
        Set<Path> tops = new HashSet<>();
        for (Volume v : volumes) {
            for (Path f : v.disk().top().files()) {
                Path real = f.toRealPath();
                if (!tops.add(real)) {
                    throw new VdException(real + ": given twice");
                }
            }
        }
        if (!readWrite) {
            return;
        }
        for (Volume v : volumes) {
            for (Image layer : v.disk().layers()) {
                if (layer == v.disk().top()) {
                    continue;
                }
                for (Path f : layer.files()) {
                    Path real = f.toRealPath();
                    if (tops.contains(real)) {
                        throw new VdException(real + ": mounted read/write while it is a parent of " + v.image());
                    }
                }
            }
        }
    }

    /**
     * One directory name per image: the file name without its extension, or the whole file name
     * where two images share a stem ({@code d.vdi d.vhdx} → {@code d.vdi/ d.vhdx/}); a descriptor
     * named DiskDescriptor.xml stands for its bundle directory. Names still equal (the same file
     * name in two directories) get -2, -3, ...
     */
    public static List<String> directoryNames(List<Path> images) {
        List<String> files = new ArrayList<>();
        List<String> stems = new ArrayList<>();
        for (Path p : images) {
            Path abs = p.toAbsolutePath().normalize();
            String name = abs.getFileName() == null ? "" : abs.getFileName().toString();
            if (name.equalsIgnoreCase("DiskDescriptor.xml") && abs.getParent() != null
                    && abs.getParent().getFileName() != null) {
                name = abs.getParent().getFileName().toString();
            }
            int dot = name.lastIndexOf('.');
            String stem = dot >= 0 ? name.substring(0, dot) : name;
            files.add(usable(name) ? name : "image");
            stems.add(usable(stem) ? stem : "image");
        }
        List<String> bases = new ArrayList<>();
        for (int i = 0; i < stems.size(); i++) {
            bases.add(java.util.Collections.frequency(stems, stems.get(i)) > 1 ? files.get(i) : stems.get(i));
        }
        List<String> out = new ArrayList<>();
        Set<String> used = new HashSet<>();
        Set<String> all = new HashSet<>(bases);
        for (String base : bases) {
            String name = base;
            for (int i = 2; used.contains(name) || !name.equals(base) && all.contains(name); i++) {
                name = base + "-" + i;
            }
            used.add(name);
            out.add(name);
        }
        return out;
    }

    private static boolean usable(String name) {
        return !name.isEmpty() && !name.equals(".") && !name.equals("..");
    }

    /**
     * The -o options handed to the binding: the core's and then the binding's defaults first, so
     * the user's can override them.
     */
    public List<String> fuseOptions(List<String> bindingDefaults) {
        List<String> o = new ArrayList<>();
        o.add("fsname=" + fsName(config.images().get(0)));
        o.add("subtype=vdmount");
        o.addAll(bindingDefaults);
        o.add("default_permissions");
        o.add("auto_unmount");          // a killed daemon never leaves a dead mount behind
        if (!config.writable()) {
            o.add("ro");                // the kernel refuses write opens too
        }
        for (String opt : optionItems(config.extraOptions())) {
            if (!(opt.equals("rw") && !config.readWrite())) { // mount(8) passes rw unless told ro: read-only stays
                o.add(opt);
            }
        }
        return o;
    }

    /** The comma-separated items of -o arguments, stripped, empty ones left out. */
    private static List<String> optionItems(List<String> options) {
        List<String> items = new ArrayList<>();
        for (String extra : options) {
            for (String opt : extra.split(",")) {
                if (!opt.isBlank()) {
                    items.add(opt.strip());
                }
            }
        }
        return items;
    }

    private static String fsName(Path image) {
        String s = image.toAbsolutePath().normalize().toString();
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            b.append(c == ',' || c == '\\' || Character.isWhitespace(c) || c < 32 ? '_' : c);
        }
        return b.toString();
    }

    /** Mounts through {@code transport} (an available one): starts its loop on its own thread. */
    public void start(FuseBindingProvider transport) {
        this.transport = transport;
        List<String> options = fuseOptions(transport.defaultOptions());
        Thread loop = new Thread(() -> {
            try {
                loopStatus = transport.create().serve(config.mountpoint(), options, fs);
            } catch (Throwable t) {
                loopFailure = t;
            } finally {
                loopDone.countDown();
            }
        }, "fuse-loop");
        loop.start();
        Runtime.getRuntime().addShutdownHook(new Thread(this::onSignal, "vdmount-shutdown"));
    }

    /**
     * Waits until the mount is usable: the kernel's INIT arrived and the mountpoint lists our
     * files. Throws with the reason when the loop ended instead.
     */
    public void awaitReady() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(READY_TIMEOUT_MS);
        while (!fs.awaitInitialized(20)) {
            checkLoopAlive();
            if (System.nanoTime() > deadline) {
                throw new IOException("mount did not become ready within " + READY_TIMEOUT_MS / 1000 + " s");
            }
        }
        String expected = fs.rootNames().isEmpty() ? null : fs.rootNames().get(0);
        while (true) {
            checkLoopAlive();
            if (lists(expected)) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("mount at " + config.mountpoint() + " did not show its files within "
                        + READY_TIMEOUT_MS / 1000 + " s");
            }
            Thread.sleep(20);
        }
    }

    private boolean lists(String expected) {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(config.mountpoint())) {
            for (Path p : ds) {
                if (expected == null || p.getFileName().toString().equals(expected)) {
                    return true;
                }
            }
        } catch (IOException e) {
            LOG.debug("readiness check: {}", e.toString());
        }
        return false;
    }

    private void checkLoopAlive() throws IOException {
        if (loopDone.getCount() == 0) {
            Throwable t = loopFailure;
            if (t != null) {
                throw new IOException("mount failed: " + ErrnoMap.describe(t), t);
            }
            throw new IOException("mount on " + config.mountpoint() + " failed (FUSE binding " + transport.name()
                    + " ended with status " + loopStatus + ")");
        }
    }

    /** Serves until unmounted, then flushes and closes. Returns the exit status. */
    public int awaitEnd() throws InterruptedException {
        loopDone.await();
        boolean clean = closeAll();
        if (loopFailure != null) {
            LOG.error("FUSE loop failed: {}", ErrnoMap.describe(loopFailure));
            return 1;
        }
        LOG.info("unmounted {}", config.mountpoint());
        return clean && loopStatus == 0 ? 0 : 1;
    }

    /** Shutdown hook (SIGTERM, SIGINT, SIGHUP): flush, unmount, wait for the loop, close. */
    private void onSignal() {
        if (loopDone.getCount() == 0) {
            closeAll(); // normal exit after an unmount: the status chosen by main stands
            return;
        }
        LOG.info("signal: flushing and unmounting {}", config.mountpoint());
        flushAll();
        Unmount.unmount(config.mountpoint());
        try {
            if (!loopDone.await(SHUTDOWN_WAIT_MS, TimeUnit.MILLISECONDS)) {
                LOG.warn("{} still busy after {} s; closing the images anyway", config.mountpoint(),
                        SHUTDOWN_WAIT_MS / 1000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        boolean clean = closeAll();
        Runtime.getRuntime().halt(clean ? 0 : 1);
    }

    private void flushAll() {
        for (Volume v : volumes) {
            try {
                v.flush();
            } catch (IOException | RuntimeException e) {
                LOG.error("flush {}: {}", v.image(), ErrnoMap.describe(e));
            }
        }
    }

    /** Flushes and closes every image once; true when all went well. */
    private synchronized boolean closeAll() {
        if (closed) {
            return true;
        }
        closed = true;
        boolean ok = true;
        for (Volume v : volumes) {
            try {
                v.close();
            } catch (IOException | RuntimeException e) {
                ok = false;
                LOG.error("closing {}: {}", v.image(), ErrnoMap.describe(e));
            }
        }
        return ok;
    }

    /** Closes the images without mounting (start-up failed after open). */
    public void abandon() {
        closeAll();
    }

    public String describe() {
        return String.join(", ", config.images().stream().map(Path::toString).toList()) + " on "
                + config.mountpoint() + (config.overlay() != null ? " (writes into overlay " + config.overlay() + ")"
                : config.readWrite() ? " (read/write)" : " (read-only)")
                + (transport != null ? " via " + transport.name() : "") + ": " + String.join(" ", fs.rootNames());
    }
}
