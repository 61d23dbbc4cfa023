package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Debian package of design.md section 5.2, built by {@code packaging/build-deb}, checked by
 * lintian (when installed), installed on this machine with dpkg and used as a user would: the
 * installed commands, man pages, bash completion, {@code mount -t fuse.vdmount} with an
 * {@code -o} key of vdmount's own and an fstab line, then removed without a trace. Skipped where
 * a vdmount package is installed already (the test would remove it).
 */
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class DebPackageTest {
    private static final String PACKAGE = "vdmount";

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();
    private boolean installedHere;

    @AfterEach
    void cleanup() {
        fuse.cleanup();
        if (installedHere) {
            Sh.run(300, List.of("dpkg", "--purge", PACKAGE));
        }
    }

    @Test
    void buildLintInstallUseRemove() throws Exception {
        Fuse.assumeFuse();
        Sh.require("dpkg", "dpkg-deb", "qemu-img", "qemu-io", "mount", "umount");
        Assumptions.assumeFalse(packageInstalled(), "a vdmount package is installed already; not replacing it");

        // the build: named after the version vd --version reports, lintian-clean
        String upstream = Sh.run(300, List.of(Fuse.REPO.resolve("vd").toString(), "--version")).ok().out().strip()
                .substring("vd ".length());
        Sh.Result build = Sh.run(600, List.of(Fuse.REPO.resolve("packaging/build-deb").toString())).ok();
        Path deb = Path.of(build.out().strip());
        assertEquals(Fuse.REPO.resolve("packaging/target/vdmount_" + upstream.replace('-', '~') + "_all.deb"), deb);
        assertTrue(Files.isRegularFile(deb), deb.toString());
        if (Sh.onPath("lintian")) {
            Sh.Result lint = Sh.run(600, List.of("lintian", "--fail-on", "error,warning", deb.toString()));
            List<String> tags = lint.out().lines().filter(l -> l.matches("[EW]: .*")).toList();
            assertEquals(List.of(), tags, "lintian: " + lint.out() + lint.err());
            assertEquals(0, lint.exit(), "lintian: " + lint.out() + lint.err());
        } else {
            System.err.println("DebPackageTest: lintian is not installed, the package is not linted");
        }
        String contents = Sh.run(60, List.of("dpkg-deb", "--contents", deb.toString())).ok().out();
        for (String path : List.of("./usr/bin/vd", "./usr/bin/vdmount", "./usr/share/vdmount/vdmount.jar",
                "./usr/share/man/man1/vdmount.1.gz", "./usr/share/man/man1/vd.1.gz",
                "./usr/share/bash-completion/completions/vd", "./usr/share/bash-completion/completions/vdmount",
                "./usr/share/doc/vdmount/copyright", "./usr/share/doc/vdmount/changelog.gz")) {
            assertTrue(contents.contains(" " + path + "\n"), path + " not in the package:\n" + contents);
        }

        // installed; --path-include: man pages even where the dpkg configuration drops documentation
        installedHere = true;
        Sh.run(300, List.of("dpkg", "--path-include=/usr/share/*", "-i", deb.toString())).ok();
        List<String> files = Sh.run(60, List.of("dpkg", "-L", PACKAGE)).ok().out().lines().toList();
        assertEquals("vd " + upstream, Sh.run(120, List.of("/usr/bin/vd", "--version")).ok().out().strip());
        assertTrue(Sh.run(120, List.of("/usr/bin/vdmount", "--help")).ok().out()
                .startsWith("Usage: vdmount [OPTIONS] IMAGE... MOUNTPOINT"));
        assertEquals("/usr/bin/vdmount", Sh.run(60, List.of("sh", "-c", "command -v vdmount")).ok().out().strip(),
                "mount.fuse finds vdmount on PATH");
        if (Sh.onPath("man")) {
            assertEquals(List.of("/usr/share/man/man1/vdmount.1.gz", "/usr/share/man/man1/vd.1.gz"),
                    Sh.run(60, List.of("man", "-w", "vdmount", "vd")).ok().out().lines().toList());
            String page = Sh.run(60, List.of("sh", "-c", "MANWIDTH=120 man -P cat vdmount")).ok().out();
            assertTrue(page.contains("--parent-dir DIR") && page.contains("parent_dir=DIR"), page);
            String vdPage = Sh.run(60, List.of("sh", "-c", "MANWIDTH=120 man -P cat vd")).ok().out();
            assertTrue(vdPage.matches("(?s).*vd convert \\[-[a-zA-Z]+\\].*") && vdPage.contains("DST"),
                    "vd(1) lacks the convert command: " + vdPage);
        }
        String completion = Sh.run(60, List.of("bash", "--norc", "-c",
                "source /usr/share/bash-completion/completions/vd && complete -p vd"
                        + " && COMP_WORDS=(vd con) COMP_CWORD=1 && _complete_vd vd con vd 2>/dev/null"
                        + " && echo \"${COMPREPLY[*]}\"")).ok().out();
        assertEquals(List.of("complete -o default -F _complete_vd vd", "convert"), completion.lines().toList());

        // mount(8) with vdmount's own -o key: the parent lies elsewhere, found through parent_dir
        Path parents = Files.createDirectories(dir.resolve("parents"));
        Path base = dir.resolve("base.qcow2");
        Path child = dir.resolve("child.qcow2");
        Sh.ok("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "24M");
        Sh.ok("qemu-io", "-f", "qcow2", "-c", "write -P 0x3c 1M 6M", base.toString());
        Sh.ok("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", child.toString());
        Sh.ok("qemu-io", "-f", "qcow2", "-c", "write -P 0xc3 5M 4M", child.toString());
        Path expected = dir.resolve("expected.raw");
        Sh.ok("qemu-img", "convert", "-O", "raw", child.toString(), expected.toString());
        Files.move(base, parents.resolve("base.qcow2"));
        Path mnt = Files.createDirectories(dir.resolve("mnt"));

        fuse.mountWith("mount", "-t", "fuse.vdmount", "-o", "ro,parent_dir=" + parents, child.toString(), mnt.toString());
        checkMount(mnt, child, expected);

        // the same as an fstab line (a private fstab: mount -T)
        Path fstab = dir.resolve("fstab");
        Files.writeString(fstab, child + " " + mnt + " fuse.vdmount ro,noauto,parent_dir=" + parents + " 0 0\n");
        fuse.mountWith("mount", "-T", fstab.toString(), mnt.toString());
        checkMount(mnt, child, expected);

        // postinst made the class data sharing archive, and starts map it (-Xshare:on fails otherwise)
        Path cache = Path.of("/var/cache/vdmount");
        try (var archives = Files.list(cache)) {
            assertEquals(1, archives.filter(f -> f.getFileName().toString().matches("vdmount-\\d+\\.jsa")).count(),
                    "one archive in " + cache);
        }
        assertEquals("vd " + upstream, Sh.run(120, List.of("env", "VDMOUNT_JAVA_OPTS=-Xshare:on", "/usr/bin/vd",
                "--version")).ok().out().strip());

        // removed: nothing of the package stays
        Sh.run(300, List.of("dpkg", "-r", PACKAGE)).ok();
        assertFalse(Files.exists(cache), cache + " left after dpkg -r");
        installedHere = false;
        List<String> left = new ArrayList<>();
        for (String f : files) {
            Path p = Path.of(f);
            if (Files.exists(p) && !Files.isDirectory(p)) {
                left.add(f);
            }
        }
        assertEquals(List.of(), left, "files left after dpkg -r");
        assertFalse(Files.exists(Path.of("/usr/share/vdmount")), "/usr/share/vdmount left after dpkg -r");
        Sh.run(300, List.of("dpkg", "--purge", PACKAGE)).ok();
        assertFalse(packageInstalled());
    }

    /** Mounted read-only (ro in the mount table), disk = qemu-img's raw of the chain, then umount. */
    private static void checkMount(Path mnt, Path image, Path expected) throws Exception {
        String entry = Files.readAllLines(Path.of("/proc/mounts")).stream()
                .filter(l -> l.split(" ")[1].equals(mnt.toString())).findFirst().orElse("");
        assertTrue(entry.startsWith(image + " " + mnt + " fuse.vdmount ro,"), entry);
        Sh.run(120, List.of("cmp", mnt.resolve("disk").toString(), expected.toString())).ok();
        Optional<Long> daemon = Fuse.daemonPid(mnt);
        assertTrue(daemon.isPresent(), "no vdmount daemon serves " + mnt);
        Sh.run(60, List.of("umount", mnt.toString())).ok();
        assertTrue(Fuse.awaitExit(daemon.get(), 30), "the daemon outlived umount");
        assertFalse(Fuse.isMounted(mnt), mnt + " still mounted");
    }

    private static boolean packageInstalled() {
        Sh.Result r = Sh.run(60, List.of("dpkg-query", "-W", "-f=${Status}", PACKAGE));
        return r.exit() == 0 && r.out().contains("installed") && !r.out().contains("not-installed");
    }
}
