package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Capability;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * For every registered format: seeded corruption of images of every variant (a base with data
 * and, for differencing formats, a child with data over it) and of the fixture's extra images,
 * inside the regions the fixture names. Every case opens and reads sanely or fails in one line.
 */
class ConformanceMutationTest {
    @TempDir
    Path dir;

    @TestFactory
    Stream<DynamicTest> corruptImagesFailCleanlyOrReadSanely() {
        return Fixtures.all().stream().map(f -> dynamicTest(f.format().name(), () -> campaign(f)));
    }

    private void campaign(FormatFixture f) throws IOException {
        String name = f.format().name();
        Path home = Files.createDirectories(dir.resolve(name));
        List<MutationCampaign.Sample> samples = new ArrayList<>();
        boolean chains = f.format().can(Capability.DIFFERENCING) && f.format().can(Capability.WRITE);
        for (Variant v : f.variants()) {
            Random rnd = new Random(Kit.seed(name, v.name(), "samples"));
            List<Path> layers = Layers.chain(f, v, home, "m-" + v.name(), Kit.MUTATION_SIZE, chains ? 2 : 1,
                    (top, index) -> scribble(f, top, rnd));
            for (int i = 0; i < layers.size(); i++) {
                samples.addAll(MutationCampaign.samples(f, v.name() + (i == 0 ? "" : " child"), layers.get(i)));
            }
        }
        for (Path extra : f.extraMutationImages(Files.createDirectories(home.resolve("extra")))) {
            samples.addAll(MutationCampaign.samples(f, home.relativize(extra).toString(), extra));
        }
        int cases = f.mutationCases() * Kit.rounds();
        MutationCampaign.Outcome o = MutationCampaign.run(f, samples, cases, Kit.seed(name, "mutation"),
                Files.createDirectories(home.resolve("scratch")), Duration.ofSeconds(240L * Kit.rounds()));
        System.out.println("conformance mutation " + name + ": " + samples.size() + " files, " + o.cases()
                + " cases, " + o.opened() + " opened and read, " + o.refused() + " refused");
        assertEquals(cases, o.cases());
        assertTrue(o.opened() > 0, name + ": no corrupted image opened; the regions miss the data");
        if (f.refusalsExpected()) {
            assertTrue(o.refused() >= cases / 50, name + ": only " + o.refused() + " of " + cases
                    + " corruptions refused; the regions miss the structures");
        }
    }

    /** Data in a dozen scattered places and one whole block, so tables have entries to corrupt. */
    private static void scribble(FormatFixture f, Path top, Random rnd) throws IOException {
        if (!f.format().can(Capability.WRITE)) {
            return;
        }
        try (Disk d = Disk.open(top, Kit.readWrite())) {
            long size = d.size();
            for (int i = 0; i < 12; i++) {
                byte[] data = new byte[1 + rnd.nextInt(40_000)];
                rnd.nextBytes(data);
                d.write(Math.floorMod(rnd.nextLong(), size - data.length), ByteBuffer.wrap(data));
            }
            long bs = Math.min(d.top().blockSize(), size);
            byte[] block = new byte[(int) Math.min(bs, 4L << 20)];
            rnd.nextBytes(block);
            d.write(0, ByteBuffer.wrap(block));
        }
    }
}
