package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The workload the launcher runs once under {@code -XX:DumpLoadedClassList} to list the classes of
 * the AppCDS archive that later starts use ({@code packaging/launcher.sh}): parses both command lines and
 * prints their help (picocli's models of every command), then creates, inspects, maps, checks and
 * converts a small image of each writable format in a temporary directory (the format classes),
 * all into a discarded stream. Exits 0 even if a step fails: a smaller archive is still valid.
 *
 * <p>Usage: {@code java -XX:DumpLoadedClassList=A.classlist -cp vdmount.jar
 * org.vdmount.mount.cli.ClassDataTraining}, then {@code java -Xshare:dump
 * -XX:SharedClassListFile=A.classlist -XX:SharedArchiveFile=A.jsa -cp vdmount.jar}.
 */
public final class ClassDataTraining {
    private static final String[] FORMATS = {"raw", "qcow2", "vdi", "vhd", "vhdx", "vmdk"};

    private ClassDataTraining() {
    }

    public static void main(String[] args) throws IOException {
        PrintStream sink = new PrintStream(OutputStream.nullOutputStream(), true);
        VdMain.run(new String[] {"--help"}, sink, sink, false);
        VdMain.run(new String[] {"formats"}, sink, sink, false);
        VdmountMain.run(new String[] {"--help"}, sink, sink);
        Path dir = Files.createTempDirectory("vdmount-cds");
        try {
            for (String f : FORMATS) {
                String img = dir.resolve("t." + f).toString();
                VdMain.run(new String[] {"create", "-f", f, img, "4M"}, sink, sink, false);
                VdMain.run(new String[] {"info", "--json", img}, sink, sink, false);
                VdMain.run(new String[] {"map", img}, sink, sink, false);
                VdMain.run(new String[] {"check", img}, sink, sink, false);
                VdMain.run(new String[] {"convert", "-O", "raw", img, img + ".raw"}, sink, sink, false);
                VdMain.run(new String[] {"compare", img, img + ".raw"}, sink, sink, false);
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : (Iterable<Path>) files.sorted(Comparator.reverseOrder())::iterator) {
                    Files.deleteIfExists(p);
                }
            }
        }
        System.exit(0);
    }
}
