package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.mount.fuse.TestBindings;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The table of bad vdmount invocations a new user makes, each pinned to the one line that names
 * its real cause; the -o keys that let mount(8) and fstab say everything the options can; what
 * --help and --version show. In-process: nothing here reaches FUSE (the test binding records the
 * options a mount would get). Mounting over a mount needs a real mount: native-tests.
 */
class BadInvocationsTest {
    @TempDir
    Path dir;
    Path img;
    Path mnt;
    Path emptyDir;

    @BeforeEach
    void setUp() throws Exception {
        img = Files.write(dir.resolve("d.raw"), new byte[1 << 20]);
        mnt = Files.createDirectory(dir.resolve("mnt"));
        emptyDir = Files.createDirectory(dir.resolve("not-an-image"));
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run vdmount(Object... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] a = new String[args.length];
        for (int i = 0; i < args.length; i++) {
            a[i] = args[i].toString();
        }
        int exit = VdmountMain.run(a, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** args → the exact stderr line and exit status (2 usage, 1 failure). */
    private Map<List<Object>, String> cases() {
        Map<List<Object>, String> m = new LinkedHashMap<>();
        m.put(List.of(2), "vdmount: missing IMAGE and MOUNTPOINT (see vdmount --help)");
        m.put(List.of(2, img), "vdmount: missing MOUNTPOINT after IMAGE " + img + " (see vdmount --help)");
        m.put(List.of(2, mnt), "vdmount: missing IMAGE before MOUNTPOINT " + mnt + " (see vdmount --help)");
        m.put(List.of(1, "-f", img, dir.resolve("nomnt")), "vdmount: mountpoint " + dir.resolve("nomnt")
                + " does not exist (create it first: mkdir -p " + dir.resolve("nomnt") + ")");
        m.put(List.of(1, "-f", dir.resolve("none.vdi"), mnt), "vdmount: " + dir.resolve("none.vdi")
                + ": no such file or directory");
        m.put(List.of(1, "-f", emptyDir, mnt), "vdmount: " + emptyDir + ": is a directory, not a disk image");
        m.put(List.of(1, "-f", img, img), "vdmount: " + img + ": mountpoint is not a directory");
        m.put(List.of(2, "-o", "parent_dir", img, mnt), "vdmount: -o parent_dir needs a value: parent_dir=DIR "
                + "(see vdmount --help)");
        m.put(List.of(2, "-o", "force_share=yes", img, mnt), "vdmount: -o force_share takes no value "
                + "(given: force_share=yes) (see vdmount --help)");
        m.put(List.of(1, "-f", "--rw", "-o", "ro", img, mnt), "vdmount: -o ro contradicts --rw: give one of them");
        m.put(List.of(1, "-f", "-o", "read_write,ro", img, mnt), "vdmount: -o ro contradicts --rw: give one of them");
        return m;
    }

    @Test
    void everyBadInvocationNamesItsRealCause() {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<List<Object>, String> c : cases().entrySet()) {
            int expectedExit = (Integer) c.getKey().get(0);
            Run r = vdmount(c.getKey().subList(1, c.getKey().size()).toArray());
            if (r.exit() != expectedExit || !r.err().equals(c.getValue() + "\n") || !r.out().isEmpty()) {
                problems.add(c.getKey().subList(1, c.getKey().size()) + " → exit " + r.exit() + ", stderr "
                        + r.err() + "   expected exit " + expectedExit + ": " + c.getValue());
            }
        }
        assertEquals(List.of(), problems);
    }

    @Test
    void vdSaysADirectoryIsADirectory() {
        Cli.Result r = Cli.vd("info", emptyDir);
        assertEquals(1, r.exit());
        assertEquals(List.of("vd: " + emptyDir + ": is a directory, not a disk image"), r.errLines());
    }

    @Test
    void aHostWriteErrorNamesTheFile() throws Exception {
        // ulimit -f makes the kernel answer EFBIG ("File too large") past 64 KiB; the JVM ignores SIGXFSZ
        Path src = dir.resolve("src.raw");
        byte[] data = new byte[1 << 20];
        java.util.Arrays.fill(data, (byte) 7);
        Files.write(src, data);
        Path dst = dir.resolve("dst.raw");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Tools.Output o = Tools.exec(List.of("bash", "-c", "ulimit -f 128; exec \"$0\" -cp \"$1\" "
                + VdMain.class.getName() + " convert \"$2\" \"$3\"", java, System.getProperty("java.class.path"),
                src.toString(), dst.toString()), null, Map.of());
        assertEquals(1, o.exit(), o.err());
        assertTrue(o.err().startsWith("vd: " + dst + ": File too large (") && o.err().lines().count() == 1, o.err());
        assertFalse(Files.exists(dst), "a failed conversion deletes DST");
    }

    @Test
    void everyLongOptionHasAnOptionKey() {
        CommandLine cl = new CommandLine(new VdmountMain());
        Map<String, OptionSpec> keys = MountOptionKeys.keys(cl.getCommandSpec());
        for (OptionSpec o : cl.getCommandSpec().options()) {
            if (o.hidden() || o.usageHelp() || o.versionHelp() || o.longestName().equals("-o")
                    || o.longestName().equals("--unmount")) {
                continue;
            }
            assertTrue(keys.containsValue(o), o.longestName() + " has no -o key: " + keys.keySet());
        }
        assertEquals("parent_dir", MountOptionKeys.keyOf("--parent-dir"));
        assertEquals(cl.getCommandSpec().findOption("--rw"), keys.get("read_write"));
        assertFalse(keys.containsKey("rw"), "rw is mount(8)'s default, never --rw");
        assertFalse(keys.containsKey("help") || keys.containsKey("version"));
        assertFalse(keys.containsKey("unmount"), "-u is a command of its own, never a mount option");
    }

    @Test
    void optionKeysBecomeOptionsAndTheRestStaysForFuse() {
        CommandLine cl = new CommandLine(new VdmountMain());
        assertEquals(List.of("--parent-dir=/x", "--force-share", "-o", "ro,allow_other", "--", "a", "b"),
                List.of(MountOptionKeys.expand(cl.getCommandSpec(),
                        new String[] {"-o", "ro,parent_dir=/x,allow_other,force_share", "--", "a", "b"})));
        assertEquals(List.of("--log", "-o", "--parent-dir=/y", "-o", "dev,suid", "-f", "i", "m"),
                List.of(MountOptionKeys.expand(cl.getCommandSpec(),
                        new String[] {"--log", "-o", "-oparent_dir=/y,dev,suid", "-f", "i", "m"})),
                "the value of --log is not an -o; -oX is -o X");
        assertEquals(List.of("--rw", "--verbose"), List.of(MountOptionKeys.expand(cl.getCommandSpec(),
                new String[] {"-o=read_write,,verbose"})));
    }

    @Test
    void mountHelperOptionsReachFuseAndAReadOnlyMountSaysRo() throws Exception {
        TestBindings.SERVED.clear();
        // as mount.fuse calls a fuse.TYPE helper: SOURCE MOUNTPOINT -o OPTIONS (rw unless told ro)
        Run r = vdmount(img, mnt, "-o", "rw,fuse=test,foreground,parent_dir=" + dir + ",allow_other,dev,suid");
        assertEquals(1, r.exit(), r.err()); // the test binding serves nothing and ends with its status
        assertEquals(List.of(List.of("fsname=" + img, "subtype=vdmount", "test_option=1", "default_permissions",
                "auto_unmount", "ro", "allow_other", "dev", "suid")), TestBindings.SERVED,
                "rw dropped: read-only stays read-only and says ro; parent_dir and fuse consumed");
        TestBindings.SERVED.clear();
        vdmount(img, mnt, "-o", "read_write,rw,fuse=test,foreground");
        assertEquals(List.of(List.of("fsname=" + img, "subtype=vdmount", "test_option=1", "default_permissions",
                "auto_unmount", "rw")), TestBindings.SERVED, "writable: rw passes");
    }

    @Test
    void helpShowsOneUsageLineExamplesKeysAndFormats() {
        Run r = vdmount("--help");
        assertEquals(0, r.exit());
        String help = r.out();
        assertTrue(help.startsWith("Usage: vdmount [OPTIONS] IMAGE... MOUNTPOINT\n"), help);
        assertEquals(1, help.split("IMAGE\\.\\.\\. MOUNTPOINT", -1).length - 2, "the parameter line, once: " + help);
        assertTrue(help.contains("  -o OPTS ") && help.contains("--parent-dir DIR") && !help.contains("=OPTS"), help);
        assertTrue(help.contains("Examples:\n  mkdir -p /mnt/x && vdmount disk.vhdx /mnt/x\n"), help);
        assertTrue(help.replaceAll("\\s+", " ").contains("fuse=NAME, parent_dir=DIR,"), help);
        String flat = help.replaceAll("\\s+", " ");
        for (ImageFormat f : FormatRegistry.all()) {
            assertTrue(flat.contains(" " + f.name() + " (." + f.extensions().get(0)), f.name() + " in " + help);
        }
        Cli.Result vd = Cli.vd("--help");
        assertTrue(vd.out().contains("Examples:\n  vd info disk.vhdx\n") && vd.out().contains("Formats "), vd.out());
        Cli.Result convert = Cli.vd("convert", "--help");
        assertTrue(convert.out().contains("-O FORMAT") && !convert.out().contains("-O=FORMAT"), convert.out());
    }

    @Test
    void bothToolsShowTheBuildsVersion() {
        Run vdmount = vdmount("--version");
        Cli.Result vd = Cli.vd("--version");
        assertEquals(0, vdmount.exit());
        assertEquals(0, vd.exit());
        String version = vd.out().strip().substring("vd ".length());
        assertTrue(version.matches("\\d+\\.\\d+\\.\\d+(-SNAPSHOT)?"), version);
        assertEquals("vdmount " + version, vdmount.out().lines().findFirst().orElseThrow());
    }
}
