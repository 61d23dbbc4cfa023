package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vd amend}: every key on each format that stores it, read back by {@code vd info --json}
 * and by the peers that show it (libvhdi's vhdiinfo for VHD identifiers, qemu-img check/compare
 * for the data left intact); one-line refusals of keys a format does not store.
 */
class AmendCommandTest {
    private static final String U1 = "0badf00d-1111-4222-8333-444455556666";
    private static final String U2 = "5eed5eed-aaaa-4bbb-8ccc-dddddddddddd";

    @TempDir
    Path dir;

    @Test
    void vdiStoresUuidCommentGeometryAndParentUuid() throws Exception {
        Path a = dir.resolve("a.vdi");
        assertEquals(0, Cli.vd("create", "-f", "vdi", a, "4M").exit());
        Cli.Result r = Cli.vd("amend", "-o", "uuid=" + U1 + ",comment=made by vd,geometry=100/16/63", a);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.out() + r.err());
        Map<String, Object> layer = layer(a, 0);
        assertEquals(U1, layer.get("uuid"));
        Map<?, ?> details = (Map<?, ?>) layer.get("details");
        assertEquals("made by vd", details.get("comment"));
        assertEquals("100/16/63", details.get("geometry"));
        if (Tools.onPath("qemu-img")) {
            assertTrue(Tools.run("qemu-img", "check", "-f", "vdi", a.toString()).contains("No errors"));
        }

        Path c = dir.resolve("c.vdi");
        assertEquals(0, Cli.vd("create", "-f", "vdi", "-b", "a.vdi", c).exit());
        String help = Cli.vd("amend", "-o", "help", c).out();
        assertTrue(help.contains("uuid=UUID") && help.contains("parent-uuid=UUID") && help.contains("comment=TEXT")
                && help.contains("geometry=") && help.contains("vd rebase"), help);
        assertTrue(!Cli.vd("amend", "-o", "help", a).out().contains("parent-uuid"), "a base has no parent-uuid");
        r = Cli.vd("amend", "-o", "parent-uuid=" + U2, c);
        assertEquals(0, r.exit(), r.toString());
        Cli.Result broken = Cli.vd("info", c);
        assertEquals(1, broken.exit(), broken.toString()); // VDI finds its parent by UUID: now none matches
        assertTrue(broken.err().contains(U2), broken.toString());
        assertEquals(0, Cli.vd("amend", "-o", "uuid=" + U2, a).exit()); // the parent takes that identity
        assertEquals(U2, layer(c, 1).get("parent-uuid"), "relinked");
        assertEquals(U2, layer(c, 0).get("uuid"));

        Cli.Result noParent = Cli.vd("amend", "-o", "parent-uuid=" + U2, a);
        assertEquals(1, noParent.exit(), noParent.toString());
        assertEquals(1, noParent.errLines().size(), noParent.toString());
        assertTrue(noParent.err().contains("not a differencing image"), noParent.toString());
    }

    @Test
    void vhdStoresUuidGeometryAndParentUuidReadByVhdiinfo() throws Exception {
        Path b = dir.resolve("b.vhd");
        assertEquals(0, Cli.vd("create", "-f", "vhd", b, "4M").exit());
        Cli.Result r = Cli.vd("amend", "-o", "uuid=" + U1, "-o", "geometry=120/4/17", "-f", "vpc", b);
        assertEquals(0, r.exit(), r.toString());
        Map<String, Object> layer = layer(b, 0);
        assertEquals(U1, layer.get("uuid"));
        assertEquals("120/4/17", ((Map<?, ?>) layer.get("details")).get("geometry"));
        Path c = dir.resolve("c.vhd");
        assertEquals(0, Cli.vd("create", "-f", "vhd", "-b", "b.vhd", c).exit());
        assertEquals(0, Cli.vd("amend", "-o", "parent-uuid=" + U2, c).exit());
        assertEquals(U2, layer(c, 1, "--ignore-parent-uuid").get("parent-uuid"));
        if (Tools.onPath("vhdiinfo")) {
            assertTrue(Tools.run("vhdiinfo", b.toString()).contains("Identifier\t\t: " + U1));
            String info = Tools.run("vhdiinfo", c.toString());
            assertTrue(info.contains("Parent identifier\t: " + U2), info);
        }
        if (Tools.onPath("qemu-img")) {
            Tools.run("qemu-img", "compare", "-q", "-f", "vpc", "-F", "raw", b.toString(),
                    Tools.run("sh", "-c", "truncate -s 4M " + dir.resolve("z.raw") + " && echo " + dir.resolve("z.raw"))
                            .strip());
        }
        Cli.Result comment = Cli.vd("amend", "-o", "comment=x", b);
        assertEquals(1, comment.exit(), comment.toString());
        assertEquals(List.of("vd: vhd: " + b + ": the format does not store 'comment'"), comment.errLines());
    }

    @Test
    void vhdxStoresItsVirtualDiskIdAndParentLinkage() throws Exception {
        Path b = dir.resolve("b.vhdx");
        assertEquals(0, Cli.vd("create", "-f", "vhdx", b, "8M").exit());
        assertEquals(0, Cli.vd("amend", "-o", "uuid=" + U1, b).exit());
        Map<String, Object> layer = layer(b, 0);
        assertEquals(U1, layer.get("uuid"));
        assertEquals("clean", ((Map<?, ?>) layer.get("details")).get("log"));
        if (Tools.onPath("qemu-img")) {
            assertTrue(Tools.run("qemu-img", "check", "-f", "vhdx", b.toString()).contains("No errors"));
        }
        Path c = dir.resolve("c.vhdx");
        assertEquals(0, Cli.vd("create", "-f", "vhdx", "-b", "b.vhdx", c).exit());
        String linkage = (String) ((Map<?, ?>) ((Map<?, ?>) layer(c, 1).get("details")).get("parent-locator"))
                .get("parent-linkage");
        assertEquals(0, Cli.vd("amend", "-o", "parent-uuid=" + U2, c).exit());
        assertEquals(1, Cli.vd("info", c).exit(), "parent_linkage no longer matches the parent's DataWriteGuid");
        Map<?, ?> loc = (Map<?, ?>) ((Map<?, ?>) layer(c, 1, "--ignore-parent-uuid").get("details"))
                .get("parent-locator");
        assertEquals("{" + U2 + "}", loc.get("parent-linkage"));
        assertEquals(".\\b.vhdx", loc.get("relative-path"), "the other keys are kept");
        assertEquals(0, Cli.vd("amend", "-o", "parent-uuid=" + linkage.substring(1, 37), c).exit());
        assertEquals(0, Cli.vd("info", c).exit(), "relinked");
        Cli.Result geometry = Cli.vd("amend", "-o", "geometry=1/2/3", b);
        assertEquals(List.of("vd: vhdx: " + b + ": the format does not store 'geometry'"), geometry.errLines());
    }

    @Test
    void vmdkStoresUuidAndGeometryInItsDescriptor() throws Exception {
        Path v = dir.resolve("v.vmdk");
        assertEquals(0, Cli.vd("create", "-f", "vmdk", v, "8M").exit());
        Cli.Result r = Cli.vd("amend", "-o", "uuid=" + U1 + ",geometry=16/16/63", v);
        assertEquals(0, r.exit(), r.toString());
        Map<String, Object> layer = layer(v, 0);
        assertEquals(U1, layer.get("uuid"));
        Map<?, ?> details = (Map<?, ?>) layer.get("details");
        assertEquals("16", details.get("geometry-cylinders"), details.toString());
        assertEquals("63", details.get("geometry-sectors"), details.toString());
        if (Tools.onPath("qemu-img")) {
            assertTrue(Tools.run("qemu-img", "check", "-f", "vmdk", v.toString()).contains("No errors"));
            String text = new String(java.nio.file.Files.readAllBytes(v), java.nio.charset.StandardCharsets.ISO_8859_1);
            assertTrue(text.contains("ddb.geometry.cylinders = \"16\"") && text.contains("ddb.uuid = \"0b ad f0 0d"),
                    "the descriptor lines as VMware writes them");
        }
        assertTrue(!Cli.vd("amend", "-o", "help", v).out().contains("parent-uuid"), "VMDK links by CID");
    }

    @Test
    void refusals() throws Exception {
        Path q = dir.resolve("q.qcow2");
        assertEquals(0, Cli.vd("create", "-f", "qcow2", q, "1M").exit());
        Cli.Result r = Cli.vd("amend", "-o", "uuid=" + U1, q);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().contains("qcow2") && r.err().contains("'uuid'"), r.toString());
        String help = Cli.vd("amend", "-o", "help", q).out();
        assertTrue(help.contains("lazy_refcounts=on|off") && !help.contains("uuid"), help); // qcow2 records no identity

        Cli.Result unknown = Cli.vd("amend", "-o", "colour=red", q);
        assertEquals(2, unknown.exit(), unknown.toString());
        assertTrue(unknown.err().contains("unknown amend key 'colour'"), unknown.toString());
        Cli.Result badUuid = Cli.vd("amend", "-o", "uuid=12", q);
        assertEquals(2, badUuid.exit(), badUuid.toString());
        Cli.Result shared = Cli.vd("amend", "-U", "-o", "uuid=" + U1, q);
        assertEquals(2, shared.exit(), shared.toString());
        assertTrue(shared.err().contains("--force-share cannot be used with amend"), shared.toString());
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> layer(Path image, int index, String... extra) {
        Object[] args = new Object[3 + extra.length];
        args[0] = "info";
        args[1] = "--json";
        System.arraycopy(extra, 0, args, 2, extra.length);
        args[args.length - 1] = image;
        Cli.Result r = Cli.vd(args);
        assertEquals(0, r.exit(), r.toString());
        Map<String, Object> info = (Map<String, Object>) JsonParser.parse(r.out());
        return (Map<String, Object>) ((List<Object>) info.get("chain")).get(index);
    }

    /**
     * qcow2 lazy_refcounts=on|off (qemu-img amend's key): qemu-img info reads the bit; an image
     * qemu left dirty is repaired by the writable open (a warning) before the bit goes off, and
     * qemu-img check is then clean; version 2 and other formats refuse it in one line.
     */
    @Test
    void qcow2LazyRefcountsGoesOnAndOffAsQemuImgAmendSetsIt() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path q = dir.resolve("l.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", q.toString(), "8M");
        assertTrue(Cli.vd("amend", "-o", "help", q).out().contains("lazy_refcounts=on|off"));
        assertEquals(0, Cli.vd("amend", "-o", "lazy_refcounts=on", q).exit());
        assertEquals(true, ((Map<?, ?>) ((Map<?, ?>) Tools.qemuInfo(q).get("format-specific")).get("data"))
                .get("lazy-refcounts"));
        var crashed = Tools.exec(List.of("qemu-io", "-c", "write -P 1 0 1M", "-c", "abort", q.toString()));
        assertTrue(crashed.exit() != 0, "qemu-io abort");
        assertEquals(true, Tools.qemuInfo(q).get("dirty-flag"));
        Cli.Result off = Cli.vd("amend", "-o", "lazy_refcounts=off", q);
        assertEquals(0, off.exit(), off.toString());
        assertTrue(off.err().contains("refcounts rebuilt"), off.toString());
        Map<?, ?> data = (Map<?, ?>) ((Map<?, ?>) Tools.qemuInfo(q).get("format-specific")).get("data");
        assertEquals(false, data.get("lazy-refcounts"));
        assertEquals(false, Tools.qemuInfo(q).get("dirty-flag"));
        assertTrue(Tools.run("qemu-img", "check", q.toString()).contains("No errors"));
        Tools.run("qemu-io", "-c", "read -P 1 0 1M", q.toString());

        Path v2 = dir.resolve("v2.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2.toString(), "8M");
        Cli.Result refused = Cli.vd("amend", "-o", "lazy_refcounts=on", v2);
        assertEquals(1, refused.exit(), refused.toString());
        assertEquals(List.of("vd: qcow2: " + v2 + ": lazy_refcounts needs compat=1.1 (this image is version 2)"),
                refused.errLines());
        Cli.Result bad = Cli.vd("amend", "-o", "lazy_refcounts=yes", q);
        assertEquals(2, bad.exit(), bad.toString());
        Path vdi = dir.resolve("l.vdi");
        assertEquals(0, Cli.vd("create", "-f", "vdi", vdi, "4M").exit());
        Cli.Result notStored = Cli.vd("amend", "-o", "lazy_refcounts=on", vdi);
        assertEquals(List.of("vd: vdi: " + vdi + ": the format does not store 'lazy_refcounts'"), notStored.errLines());
    }
}
