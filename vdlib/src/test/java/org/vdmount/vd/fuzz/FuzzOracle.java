package org.vdmount.vd.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.Run;

/**
 * The oracle of every parser fuzz target: an input either opens and reads (within the virtual
 * size, bounded work) or is refused with an {@link IOException} (the library's {@code VdException}
 * family, truncation, missing files) whose message is one line. Anything else escaping — a
 * runtime exception, an error, a hang (the fuzzer's timeout) or running out of memory — is a
 * finding.
 */
final class FuzzOracle {
    /** Most runs visited and bytes read per input: enough to walk tables, bounded for speed. */
    static final int MAX_RUNS = 64;
    static final int MAX_READ = 64 * 1024;

    private FuzzOracle() {
    }

    /** A body that opens and exercises something; IOExceptions are acceptable answers. */
    @FunctionalInterface
    interface Body {
        void run() throws IOException;
    }

    static void expect(Body body) {
        try {
            body.run();
        } catch (IOException e) {
            String m = e.getMessage();
            if (m != null && (m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0)) {
                throw new AssertionError("refusal message spans lines: " + m, e);
            }
        }
    }

    /** Walks the first runs of an opened image and reads the DATA ones (bounded). */
    static void exercise(Image img) throws IOException {
        long size = img.virtualSize();
        if (size < 0) {
            throw new AssertionError("negative virtual size " + size);
        }
        long off = 0;
        ByteBuffer buf = ByteBuffer.allocate(MAX_READ);
        for (int i = 0; i < MAX_RUNS && off < size; i++) {
            long run = img.map(off, size - off);
            long len = Run.length(run);
            if (len <= 0 || len > size - off) {
                throw new AssertionError("run of " + len + " bytes at " + off + " in an image of " + size);
            }
            if (Run.kind(run) == Allocation.DATA) {
                buf.clear().limit((int) Math.min(len, MAX_READ));
                img.readData(off, buf);
            }
            // jump ahead geometrically so tables far into the image are reached too
            off += Math.max(len, (size - off) / 8 & ~511L);
        }
    }

    /** Reads a few ranges of a whole chain: start, middle, end. */
    static void exercise(Disk disk) throws IOException {
        long size = disk.size();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        for (long off : new long[] {0, size / 2 & ~511L, Math.max(0, size - 4096)}) {
            if (off < size) {
                buf.clear().limit((int) Math.min(4096, size - off));
                disk.read(off, buf);
            }
        }
    }

    static Path scratch(String name) {
        try {
            Path dir = Files.createTempDirectory("vdfuzz-" + name);
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Deletes the files a previous input left in {@code dir}. Directories stay: other targets keep
     * their fixtures there (and one that cannot be deleted must not end the input early).
     */
    static void clear(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                if (!Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.delete(p);
                }
            }
        }
    }

    /**
     * The input written as {@code dir/name} after {@link #clear}. The harness's own I/O fails
     * loudly: inside {@link #expect} its IOException would pass for the parser's refusal.
     */
    static Path input(Path dir, String name, byte[] content) {
        try {
            clear(dir);
            return Files.write(dir.resolve(name), content);
        } catch (IOException e) {
            throw new UncheckedIOException("fuzz harness: writing " + dir.resolve(name), e);
        }
    }
}
