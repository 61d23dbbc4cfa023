package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Capability;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * For every registered format and every variant of its fixture: the randomised model test on one
 * layer and, for differencing formats, on a 3-layer chain; then the fixture's external oracle
 * over the very images the model run left.
 */
class ConformanceModelTest {
    /** Operations on the top of every run (times {@link Kit#rounds()}). */
    static final int OPS = 3000;
    /** Operations on each lower layer of a chain before the next is stacked on it. */
    static final int LOWER_OPS = 500;

    @TempDir
    Path dir;

    /** What a model run left for the oracle: the layers, base first, and what the top reads. */
    private static final class Outcome {
        List<Path> layers;
        byte[] model;
    }

    @TestFactory
    Stream<DynamicNode> modelRunsCheckedByTheOracle() {
        return Fixtures.all().stream().map(f -> dynamicContainer(f.format().name(),
                f.variants().stream().map(v -> dynamicContainer(v.name(), nodes(f, v)))));
    }

    private Stream<DynamicNode> nodes(FormatFixture f, Variant v) {
        List<DynamicNode> nodes = new ArrayList<>();
        if (!f.format().can(Capability.WRITE)) {
            return nodes.stream(); // read-only formats: reads by the mutation test, refusals by the capability test
        }
        int depth = f.format().can(Capability.DIFFERENCING) ? 3 : 1;
        for (int layers : depth == 1 ? new int[] {1} : new int[] {1, depth}) {
            String label = layers == 1 ? "one layer" : layers + "-layer chain";
            Outcome out = new Outcome();
            Oracle oracle = f.oracle(v, layers);
            boolean noOracle = oracle.kind() == Oracle.Kind.NONE; // the fixture says why nobody can check
            nodes.add(dynamicTest("model, " + label, () -> {
                model(f, v, layers, out);
                if (noOracle) {
                    Scratch.delete(out.layers.get(0).getParent());
                }
            }));
            if (noOracle) {
                continue;
            }
            nodes.add(dynamicTest("oracle, " + label, () -> {
                Assumptions.assumeTrue(out.model != null, "the model run did not finish");
                Path where = out.layers.get(0).getParent();
                try {
                    OracleRunner.verify(oracle, out.layers, out.model);
                } finally {
                    Scratch.delete(where);
                }
            }));
        }
        return nodes.stream();
    }

    private void model(FormatFixture f, Variant v, int depth, Outcome out) throws IOException {
        String name = f.format().name() + "-" + v.name() + "-" + depth;
        long seed = Kit.seed(name, "model");
        byte[][] model = new byte[1][];
        List<Map<Path, FileState>> lower = new ArrayList<>();
        List<Path> layers = Layers.chain(f, v, dir, name, Kit.MODEL_SIZE, depth, (top, index) -> {
            if (model[0] == null) {
                try (Disk d = Disk.open(top, Kit.readOnly())) {
                    model[0] = DiskBytes.readAll(d);
                }
                DiskBytes.assertSame(new byte[model[0].length], model[0], name + ": a fresh image reads zeros");
            }
            if (index < depth - 1) {
                ModelRun.run(top, model[0], seed + index, LOWER_OPS * Kit.rounds(), name + " layer " + index);
                lower.add(FileState.ofLowerLayer(top, f));
            }
        });
        Path top = layers.get(layers.size() - 1);
        ModelRun.run(top, model[0], seed + depth, OPS * Kit.rounds(), name + " top");
        for (Map<Path, FileState> states : lower) {
            FileState.assertUnchanged(states);
        }
        out.layers = layers;
        out.model = model[0];
    }
}
