package org.vdmount.vd.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;

/**
 * The Parallels bundle of the {@link FormatFuzzTest#parallelsBundle} target, made once per JVM by
 * this library's writer: {@code b.hdd/} with a 1 MiB base of 4 KiB clusters and a snapshot over
 * it, each holding data, so that a descriptor naming both reads through both.
 */
final class ParallelsBundle {
    static final long SIZE = 1 << 20;

    private ParallelsBundle() {
    }

    /** The bundle directory under {@code where}; its descriptor is the input's to replace. */
    static Path get(Path where) {
        Path bundle = where.resolve("b.hdd");
        if (Files.isDirectory(bundle)) {
            return bundle;
        }
        try {
            Files.createDirectories(where);
            ImageFormat f = FormatRegistry.require("parallels");
            f.create(bundle, CreateOptions.of(SIZE).with("cluster_size", "4k")).close();
            Path base;
            try (Stream<Path> s = Files.list(bundle)) {
                base = s.filter(p -> p.toString().endsWith(".hds")).findFirst().orElseThrow();
            }
            fill(base, 0);
            Path snapshot = bundle.resolve("b.hdd.1.hds");
            try (Disk parent = Disk.open(base, OpenOptions.defaultReadOnly())) {
                f.create(snapshot, CreateOptions.of(SIZE).withParent(parent, base)).close();
            }
            fill(snapshot, 4096);
            return bundle;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A few 4 KiB pieces of one byte value, from {@code first} every 64 KiB. */
    private static void fill(Path image, long first) throws IOException {
        try (Disk d = Disk.open(image, OpenOptions.defaultReadWrite())) {
            byte[] piece = new byte[4096];
            java.util.Arrays.fill(piece, (byte) (first == 0 ? 0xB0 : 0x5A));
            for (long off = first; off < SIZE; off += 64 << 10) {
                d.write(off, ByteBuffer.wrap(piece));
            }
            d.flush();
        }
    }
}
