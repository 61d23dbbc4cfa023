package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OrderedRead;
import org.vdmount.vd.StoredChecksum;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code vd verify [-f FMT] IMAGE}: reads the whole media, recomputes the hashes the image stores
 * (an E01's MD5 and SHA-1, {@link Image#storedDigests()}) and the checksums it stores over its own
 * parts (a DMG's data-fork and block-table CRC-32s, {@link Image#storedChecksums()}) and compares
 * them, as ewfverify does.
 * Exit status: 0 every stored hash matches, 1 a mismatch (naming the hash, stored and computed),
 * 2 an error (a corrupt chunk, named; an image that stores no hashes).
 */
@Command(name = "verify",
        description = {"Recompute the hashes IMAGE stores (E01: MD5, SHA-1 of the media; DMG: CRC-32 of the data fork"
                + " and of each block table) and compare them.",
                "Reads every byte of the disk (read-only); progress bar on a terminal.",
                "Exit status: 0 all stored hashes match, 1 mismatch, 2 error (unreadable data, no stored hashes)."})
final class VerifyCommand extends VdCommand {
    static final int MISMATCH = 1;
    static final int ERROR = 2;

    @Mixin
    ImageFormatOption imageFormat;

    @Mixin
    ProgressOption progressOption;

    @Parameters(paramLabel = "IMAGE", description = "The image (an E01 set by its first segment, a .dmg).")
    Path image;

    @Override
    public Integer call() {
        List<String> mismatches = new ArrayList<>();
        try (Disk disk = imageFormat.open(image, vd.openOptions(common))) {
            Image top = disk.top();
            Map<String, String> stored = top.storedDigests();
            List<StoredChecksum> checksums = top.storedChecksums();
            if (stored.isEmpty() && checksums.isEmpty()) {
                vd.err.println(VdMain.PROG + ": " + image + ": " + top.format().name() + " stores no hashes to verify");
                return ERROR;
            }
            for (StoredChecksum c : checksums) {
                vd.out.printf("%s: stored %s, computed %s%s%n", c.what(), c.stored(), c.computed(),
                        c.matches() ? "" : "  MISMATCH");
                if (!c.matches()) {
                    mismatches.add(c.what() + " mismatch: stored " + c.stored() + ", computed " + c.computed());
                }
            }
            Map<String, String> computed = stored.isEmpty() ? Map.of()
                    : digest(disk, stored.keySet().toArray(String[]::new));
            for (Map.Entry<String, String> e : stored.entrySet()) {
                String got = computed.get(e.getKey());
                vd.out.printf("%-6s stored:   %s%n", e.getKey(), e.getValue());
                vd.out.printf("%-6s computed: %s%n", e.getKey(), got);
                if (!got.equalsIgnoreCase(e.getValue())) {
                    mismatches.add(e.getKey() + " mismatch: stored " + e.getValue() + ", computed " + got);
                }
            }
        } catch (IOException | RuntimeException e) {
            CliErrors.report(VdMain.PROG, e, vd.verbose(common), vd.err);
            return ERROR;
        }
        vd.out.println(mismatches.isEmpty() ? "Verified: every stored hash matches." : "Verification FAILED.");
        vd.out.flush();
        for (String m : mismatches) {
            vd.err.println(VdMain.PROG + ": " + image + ": " + m);
        }
        return mismatches.isEmpty() ? 0 : MISMATCH;
    }

    /** Every byte of the disk through the digests {@code algorithms}; lower-case hex by algorithm. */
    private Map<String, String> digest(Disk disk, String[] algorithms) throws IOException {
        MessageDigest[] digests = new MessageDigest[algorithms.length];
        for (int i = 0; i < algorithms.length; i++) {
            try {
                digests[i] = MessageDigest.getInstance(algorithms[i]);
            } catch (NoSuchAlgorithmException e) {
                throw new IOException("no " + algorithms[i] + " implementation in this Java runtime", e);
            }
        }
        Progress progress = progressOption.bar(vd, disk.size());
        // each digest beyond the first on a thread of its own: a piece takes as long as its slowest
        // digest (MD5 here), not the sum of them
        ExecutorService others = Executors.newFixedThreadPool(Math.max(1, digests.length - 1), r -> {
            Thread t = new Thread(r, "vd-digest");
            t.setDaemon(true);
            return t;
        });
        List<Future<?>> pending = new ArrayList<>();
        boolean completed = false;
        try {
            OrderedRead.read(disk, OrderedRead.threads(), (piece, end) -> {
                pending.clear();
                for (int i = 1; i < digests.length; i++) {
                    MessageDigest md = digests[i];
                    ByteBuffer view = piece.duplicate();
                    pending.add(others.submit(() -> md.update(view)));
                }
                digests[0].update(piece.duplicate());
                for (Future<?> f : pending) {
                    await(f); // the piece's buffer is reused once every digest has it
                }
                progress.update(end);
            });
            completed = true;
        } finally {
            others.shutdown();
            progress.finish(completed);
        }
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < algorithms.length; i++) {
            out.put(algorithms[i], HexFormat.of().formatHex(digests[i].digest()));
        }
        return out;
    }

    private static void await(Future<?> f) throws IOException {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("digest interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        }
    }
}
