package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The Disk asks a format's declarations: thread model and discard. */
class DiskHonoursDeclarationsTest {
    private static final int BLOCK = 64 * 1024;

    /** A MemImage behind a format with the given declarations that counts who is inside it. */
    private static class Declared extends MemImage {
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger maxInside = new AtomicInteger();
        final AtomicInteger discards = new AtomicInteger();
        private final ImageFormat format;

        Declared(ThreadModel model, Set<Capability> caps) {
            super(16L * BLOCK, BLOCK, false);
            this.format = new ImageFormat() {
                @Override
                public String name() {
                    return "declared";
                }

                @Override
                public List<String> extensions() {
                    return List.of();
                }

                @Override
                public Set<Capability> capabilities() {
                    return caps;
                }

                @Override
                public ThreadModel threadModel() {
                    return model;
                }

                @Override
                public int probe(ProbeInput in) {
                    return 0;
                }

                @Override
                public Image open(Path path, OpenOptions options) {
                    throw new UnsupportedOperationException();
                }
            };
        }

        private void enter() {
            int n = inside.incrementAndGet();
            maxInside.accumulateAndGet(n, Math::max);
            Thread.onSpinWait();
            for (int i = 0; i < 2000; i++) {
                Thread.onSpinWait(); // stay inside a while so overlaps show
            }
        }

        @Override
        public long map(long offset, long maxLength) {
            enter();
            try {
                return super.map(offset, maxLength);
            } finally {
                inside.decrementAndGet();
            }
        }

        @Override
        public void readData(long offset, ByteBuffer dst) {
            enter();
            try {
                super.readData(offset, dst);
            } finally {
                inside.decrementAndGet();
            }
        }

        @Override
        public WriteResult write(long offset, ByteBuffer src) {
            enter();
            try {
                return super.write(offset, src);
            } finally {
                inside.decrementAndGet();
            }
        }

        @Override
        public void discard(long offset, long length) {
            discards.incrementAndGet();
            super.discard(offset, length);
        }

        @Override
        public ImageFormat format() {
            return format;
        }
    }

    private static final Set<Capability> ALL = EnumSet.of(Capability.READ, Capability.WRITE, Capability.DISCARD);

    /** Eight threads reading and writing at random; returns the most that were inside at once. */
    private static int hammer(Declared img) throws Exception {
        Disk disk = Disk.of(List.of(img));
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int seed = t;
                jobs.add(pool.submit(() -> {
                    Random r = new Random(seed);
                    ByteBuffer buf = ByteBuffer.allocate(4096);
                    for (int i = 0; i < 400; i++) {
                        long off = r.nextInt((int) (disk.size() / 4096)) * 4096L;
                        buf.clear();
                        if (r.nextBoolean()) {
                            disk.read(off, buf);
                        } else {
                            disk.write(off, buf);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        return img.maxInside.get();
    }

    /**
     * Every fact the gate passes on is the wrapped image's own, default methods included (a new
     * default method on Image that the gate forgets would answer for the gate, not the image).
     */
    @Test
    void theGateAnswersEveryFactAsTheImageDoes() throws Exception {
        Declared img = new Declared(ThreadModel.SERIALIZE_ALL, ALL) {
            @Override
            public List<Path> files() {
                return List.of(Path.of("/declared/a"), Path.of("/declared/b"));
            }

            @Override
            public long hostAllocatedBytes() {
                return 4242;
            }

            @Override
            public int logicalSectorSize() {
                return 4096;
            }

            @Override
            public java.util.UUID linkUuid() {
                return new java.util.UUID(1, 2);
            }

            @Override
            public java.util.Map<String, Object> details() {
                return java.util.Map.of("k", "v");
            }
        };
        Image gated = Disk.of(List.of(img)).top();
        assertTrue(gated != img, "SERIALIZE_ALL images are gated");
        for (java.lang.reflect.Method m : Image.class.getMethods()) {
            if (m.getParameterCount() == 0 && !m.getName().equals("close") && !m.getName().equals("flush")) {
                assertEquals(m.invoke(img), m.invoke(gated), "Image." + m.getName() + "() through the gate");
            }
        }
    }

    @Test
    void serializeAllLetsOneCallInAtATime() throws Exception {
        assertEquals(1, hammer(new Declared(ThreadModel.SERIALIZE_ALL, ALL)));
    }

    @Test
    void parallelImagesAreCalledDirectlyAndConcurrently() throws Exception {
        Declared img = new Declared(ThreadModel.PARALLEL, ALL);
        assertSame(img, Disk.of(List.of(img)).top(), "no gate around a PARALLEL image");
        assertTrue(hammer(img) > 1, "eight threads overlap somewhere without a gate");
    }

    @Test
    void serializeWritesLetsReadersShareButKeepsWritersAlone() throws Exception {
        Declared readers = new Declared(ThreadModel.SERIALIZE_WRITES, ALL);
        Disk r = Disk.of(List.of(readers));
        ExecutorService readPool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                jobs.add(readPool.submit(() -> {
                    for (int i = 0; i < 400; i++) {
                        r.read((i % 16) * (long) BLOCK, ByteBuffer.allocate(4096));
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            readPool.shutdownNow();
        }
        assertTrue(readers.maxInside.get() > 1, "reads share the gate");

        Declared writersOnly = new Declared(ThreadModel.SERIALIZE_WRITES, ALL);
        Disk w = Disk.of(List.of(writersOnly));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                jobs.add(pool.submit(() -> {
                    for (int i = 0; i < 300; i++) {
                        w.write((i % 16) * (long) BLOCK, ByteBuffer.allocate(BLOCK));
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, writersOnly.maxInside.get(), "writes never overlap");
    }

    @Test
    void withoutDiscardTheDiskWritesZerosInstead() throws IOException {
        Declared img = new Declared(ThreadModel.PARALLEL, EnumSet.of(Capability.READ, Capability.WRITE));
        Disk disk = Disk.of(List.of(img));
        byte[] data = new byte[BLOCK * 2];
        new Random(3).nextBytes(data);
        disk.write(0, ByteBuffer.wrap(data));
        disk.discard(0, BLOCK * 2L);
        assertEquals(0, img.discards.get(), "discard is never called on a format without DISCARD");
        ByteBuffer back = ByteBuffer.allocate(BLOCK * 2);
        disk.read(0, back);
        assertArrayEquals(new byte[BLOCK * 2], back.array());

        Declared can = new Declared(ThreadModel.PARALLEL, ALL);
        Disk d2 = Disk.of(List.of(can));
        d2.write(0, ByteBuffer.wrap(data));
        d2.discard(0, BLOCK * 2L);
        assertEquals(2, can.discards.get(), "whole blocks go to the image's discard");
    }
}
