package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vd measure against qemu-img measure: the same numbers for qcow2 and raw output. */
class MeasureTest {
    @TempDir
    Path dir;

    private static void assertSame(Object... args) throws Exception {
        List<String> q = new ArrayList<>(List.of("qemu-img", "measure"));
        for (Object a : args) {
            q.add(a.toString());
        }
        String qemu = Tools.run(q.toArray(String[]::new)).lines().filter(l -> !l.startsWith("bitmaps size"))
                .reduce("", (x, y) -> x + y + "\n");
        Object[] v = new Object[args.length + 1];
        v[0] = "measure";
        System.arraycopy(args, 0, v, 1, args.length);
        Cli.Result r = Cli.vd(v);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(qemu, r.out(), q.toString());
    }

    @Test
    void qcow2AndRawSizesAgreeWithQemu() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path base = dir.resolve("base.qcow2");
        Tools.run("qemu-img", "create", "-f", "qcow2", base.toString(), "64M");
        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 100k", "-c", "write -z 1M 1M", "-c",
                "write -P 2 10M 3M", "-c", "write -P 3 40000000 70000", base.toString());
        Path top = dir.resolve("top.qcow2");
        Tools.run("qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top.toString(), "100M");
        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 4 90M 1M", "-c", "write -P 5 50k 10k", top.toString());
        assertSame("-O", "qcow2", base);
        assertSame("-O", "qcow2", top);
        assertSame("-O", "qcow2", "-o", "cluster_size=4k,refcount_bits=64", top);
        assertSame("-O", "qcow2", "-o", "cluster_size=2M,extended_l2=on", top);
        assertSame("-O", "raw", top);
        // options that change no size are taken as qemu-img takes them; full preallocation is all required
        assertSame("-O", "qcow2", "-o", "compression_type=zstd,compat=0.10,lazy_refcounts=off", top);
        assertSame("-O", "qcow2", "-o", "preallocation=metadata", top);
        assertSame("-O", "qcow2", "-o", "preallocation=full,cluster_size=4k", top);
        assertSame("-O", "qcow2", "-o", "preallocation=falloc", "--size", "1G");
        Cli.Result lz4 = Cli.vd("measure", "-O", "qcow2", "-o", "compression_type=lz4", top);
        assertEquals(2, lz4.exit(), lz4.toString());
        assertEquals(List.of("vd: compression_type is one of zlib, zstd, not 'lz4' (see 'vd measure --help')"), lz4.errLines());
        assertSame("-O", "qcow2", "--size", "3G");
        assertSame("-O", "qcow2", "-o", "cluster_size=512", "--size", "100M");
        Cli.Result j = Cli.vd("measure", "--json", "-O", "qcow2", "--size", "1G");
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) JsonParser.parse(j.out());
        assertEquals(393216L, ((Number) m.get("required")).longValue());
        assertEquals(1074135040L, ((Number) m.get("fully-allocated")).longValue());
        assertEquals(2, Cli.vd("measure", "-O", "vdi", "--size", "1G").exit());
        assertEquals(2, Cli.vd("measure", "-O", "qcow2", "-o", "bogus=1", "--size", "1G").exit());
    }
}
