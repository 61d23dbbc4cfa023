package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.inspect.ChainMap;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/**
 * {@code vd map [--json] [--start-offset OFF] [--max-length LEN] IMAGE}: the allocation of the whole chain, as {@code qemu-img map} prints
 * it. The JSON form is qemu-img's: one object per merged run with start, length, depth (0 = the
 * top image), present (some layer holds the range), zero (reads as zeros), data (a layer holds
 * its bytes) and, for data lying plainly in a host file, offset (where in that file). The human
 * form shows the data runs with that offset and file (for a VMDK the extent file), {@code -} where
 * the data has no one plain host location (compressed).
 */
@Command(name = "map",
        description = {"Show the allocation of IMAGE's whole chain, run by run (as qemu-img map).",
                "--json prints qemu-img map --output=json's schema: start, length, depth, present, zero, data",
                "and offset (the host offset of data stored plainly in a file).",
                "Every file of the chain is opened read-only; no guest data is read."})
final class MapCommand extends VdCommand {

    @Option(names = "--json", description = "Print qemu-img's JSON: one object per run.")
    boolean json;

    @Mixin
    OutputOption output;

    @Mixin
    ImageFormatOption imageFormat;

    @Option(names = "--start-offset", paramLabel = "OFFSET", description = "Map from guest offset OFFSET (bytes; "
            + "k, M, G, T suffixes), as qemu-img map --start-offset (default 0).")
    String startOffset;

    @Option(names = "--max-length", paramLabel = "LENGTH", description = "Map at most LENGTH bytes from the start, as "
            + "qemu-img map --max-length (default: to the end of the disk).")
    String maxLength;

    @Parameters(paramLabel = "IMAGE", description = "The image (top of its chain).")
    Path image;

    @Override
    public Integer call() throws Exception {
        long start = bytes("--start-offset", startOffset, 0);
        long max = bytes("--max-length", maxLength, Long.MAX_VALUE);
        try (Disk disk = imageFormat.open(image, vd.openOptions(common))) {
            long end = Math.min(disk.size(), start + Math.min(max, Long.MAX_VALUE - start));
            long from = Math.min(start, end);
            if (output.json(json)) {
                printJson(disk, from, end, vd.out);
            } else {
                printHuman(disk, from, end, vd.out);
            }
        }
        vd.out.flush();
        return 0;
    }

    /** A size option's bytes ({@link Sizes#parse}), {@code absent} when not given; a usage error when invalid. */
    private long bytes(String option, String value, long absent) {
        if (value == null) {
            return absent;
        }
        try {
            long v = Sizes.parse(value);
            if (v >= 0) {
                return v;
            }
        } catch (IOException | RuntimeException e) {
            // reported below
        }
        throw new ParameterException(spec.commandLine(), option + " " + value + ": not a size in bytes (k, M, G, T "
                + "suffixes)");
    }

    /** Guest range {@code [start, end)} in qemu-img's layout: a JSON array, one object per line. */
    static void printJson(Disk disk, long start, long end, PrintStream out) throws IOException {
        StringBuilder line = new StringBuilder();
        boolean[] first = {true};
        ChainMap.walk(disk, start, end, e -> {
            line.setLength(0);
            line.append(first[0] ? "[" : ",\n");
            first[0] = false;
            line.append("{ \"start\": ").append(e.start())
                    .append(", \"length\": ").append(e.length())
                    .append(", \"depth\": ").append(e.depth())
                    .append(", \"present\": ").append(e.present())
                    .append(", \"zero\": ").append(e.zero())
                    .append(", \"data\": ").append(e.data());
            if (e.offset() >= 0) {
                line.append(", \"offset\": ").append(e.offset());
            }
            line.append('}');
            out.print(line);
        });
        out.println(first[0] ? "[]" : "]");
    }

    /** The runs that hold data, with the file of the layer holding them (qemu-img map's columns). */
    static void printHuman(Disk disk, long start, long end, PrintStream out) throws IOException {
        List<Image> layers = disk.layers();
        out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
        ChainMap.walk(disk, start, end, e -> {
            if (e.data()) {
                Image layer = layers.get(layers.size() - 1 - e.depth());
                out.printf("%-16s%-16s%-16s%s%n", hex(e.start()), hex(e.length()),
                        e.offset() >= 0 ? hex(e.offset()) : "-", e.file() != null ? e.file() : layer.storage().path());
            }
        });
    }

    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
