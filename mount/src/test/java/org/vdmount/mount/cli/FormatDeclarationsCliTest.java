package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;

/** What formats declare reaches users: -o help, vd formats, and every file of an image guarded. */
class FormatDeclarationsCliTest {
    @TempDir
    Path dir;

    @Test
    void createOptionHelpListsOptionsWithDefaults() {
        Cli.Result r = Cli.vd("create", "-f", "qcow2", "-o", "help");
        assertEquals(0, r.exit(), r.toString());
        String out = r.out();
        assertTrue(out.startsWith("Supported options for qcow2 (-o KEY=VALUE,...):\n"), out);
        assertTrue(out.contains("  cluster_size=<size>"), out);
        assertTrue(out.contains("(default: 64K)"), out);
        assertTrue(out.contains("compat=0.10|1.1|v2|v3"), out);
        assertTrue(out.contains("extended_l2=<on|off>"), out);
        assertTrue(out.contains("Capabilities: read, write, create, differencing, snapshots, discard, zero-blocks, "
                + "repair-on-open, resize\n"), out);

        Cli.Result qm = Cli.vd("convert", "-O", "vdi", "-o", "?");
        assertEquals(0, qm.exit(), qm.toString());
        assertTrue(qm.out().contains("subformat=dynamic|fixed"), qm.out());
        assertTrue(qm.out().contains("block_size=<size>"), qm.out());

        Cli.Result none = Cli.vd("create", "-f", "qcow", "-o", "help");
        assertEquals(0, none.exit());
        assertTrue(none.out().startsWith("Format qcow takes no -o options.\n"), none.out());
    }

    @Test
    void everyRegisteredOptionIsInTheHelp() {
        for (ImageFormat f : FormatRegistry.all()) {
            Cli.Result r = Cli.vd("create", "-f", f.name(), "-o", "help");
            assertEquals(0, r.exit(), r.toString());
            f.createOptions().forEach(o -> assertTrue(r.out().contains("  " + o.name() + "="), f.name() + ": "
                    + o.name() + " missing in\n" + r.out()));
        }
    }

    @Test
    void createWithoutImageStillSaysWhatIsMissing() {
        Cli.Result r = Cli.vd("create", "-f", "qcow2");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().startsWith("vd: Missing required parameter: 'IMAGE'"), r.err());
    }

    @Test
    void formatsListsEveryFormatWithCapabilities() {
        Cli.Result r = Cli.vd("formats");
        assertEquals(0, r.exit(), r.toString());
        List<String> lines = r.out().lines().toList();
        assertEquals(FormatRegistry.all().size() + 1, lines.size(), r.out());
        assertTrue(lines.get(0).startsWith("FORMAT"), r.out());
        assertTrue(r.out().contains("vmdk"), r.out());

        Cli.Result j = Cli.vd("formats", "--json");
        assertEquals(0, j.exit(), j.toString());
        @SuppressWarnings("unchecked")
        List<Object> all = (List<Object>) JsonParser.parse(j.out());
        assertEquals(FormatRegistry.all().size(), all.size());
        @SuppressWarnings("unchecked")
        Map<String, Object> raw = (Map<String, Object>) all.get(all.size() - 1);
        assertEquals("raw", raw.get("name"));
        assertEquals(List.of("read", "write", "create", "create-fixed", "discard", "resize", "multi-file"),
                raw.get("capabilities"));
        assertEquals("parallel", raw.get("thread-model"));
    }

    /**
     * A twoGbMaxExtentSparse VMDK keeps its data in extent files; --overwrite of one of them once
     * destroyed the source. Every file of every layer is guarded now.
     */
    @Test
    void overwriteRefusesAnExtentOfTheSource() throws Exception {
        Path src = dir.resolve("split.vmdk");
        Cli.Result c = Cli.vd("create", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", src, "3G");
        assertEquals(0, c.exit(), c.toString());
        Path extent = dir.resolve("split-s002.vmdk");
        assertTrue(Files.exists(extent), "second extent file");
        try (Disk d = Disk.open(src, OpenOptions.defaultReadOnly())) {
            assertTrue(d.top().files().contains(extent), d.top().files().toString());
            assertEquals(3, d.top().files().size(), "descriptor and two extents: " + d.top().files());
        }
        Cli.Result info = Cli.vd("info", "--json", src);
        assertEquals(0, info.exit(), info.toString());
        @SuppressWarnings("unchecked")
        Map<String, Object> top = (Map<String, Object>) ((List<Object>) ((Map<String, Object>) JsonParser
                .parse(info.out())).get("chain")).get(0);
        assertEquals(List.of(src.toString(), dir.resolve("split-s001.vmdk").toString(), extent.toString()),
                top.get("files"), "vd info lists every file of the layer");
        byte[] before = Files.readAllBytes(extent);
        Cli.Result r = Cli.vd("convert", "--overwrite", src, extent);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(List.of("vd: " + extent + ": is part of the source chain (" + extent + "), not replaced"),
                r.errLines());
        assertArrayEquals(before, Files.readAllBytes(extent), "the extent is untouched");
        assertFalse(Files.exists(dir.resolve("split-s002.vmdk.tmp")));
    }
}
