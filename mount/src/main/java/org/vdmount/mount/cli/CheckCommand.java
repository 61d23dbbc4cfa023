package org.vdmount.mount.cli;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.Finding;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code vd check [--json] [-r leaks|all] IMAGE}: the structural consistency of one image file
 * (not its parents), with qemu-img check's summary and exit status.
 */
@Command(name = "check",
        description = {"Check the structure of IMAGE (the file itself, not its parents): tables inside the file, "
                + "overlaps, reference and allocation counts. Read-only unless -r is given.",
                "Exit status as qemu-img check: 0 clean, 1 the check could not complete, 2 corruptions found, "
                        + "3 only leaks found, 63 the format has no check."})
final class CheckCommand extends VdCommand {
    static final int NOT_SUPPORTED = 63;

    @Option(names = "--json", description = "Print one JSON object (qemu-img check's keys, plus findings).")
    boolean json;

    @Mixin
    OutputOption output;

    @Option(names = "-r", paramLabel = "leaks|all", description = "Repair: 'leaks' gives leaked space back; 'all' "
            + "also fixes corruptions that can be fixed without dropping data. The result is checked again.")
    String repair;

    @Mixin
    ImageFormatOption imageFormat;

    @Parameters(paramLabel = "IMAGE", description = "The image file to check.")
    Path image;

    @Override
    public Integer call() throws Exception {
        Repair mode = parseRepair();
        if (common.allowTruncated || vd.common.allowTruncated) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), mode != Repair.NONE
                    ? "--allow-truncated cannot be used with check -r: repairs write the image, and a truncated "
                    + "image is only ever read"
                    : "--allow-truncated cannot be used with check: check reports what a truncated image lacks; "
                    + "the override is for reading its data (info, convert, map, compare, vdmount)");
        }
        if (!Files.exists(image)) {
            throw new NoSuchFileException(image.toString());
        }
        ImageFormat fmt = imageFormat.format == null ? FormatRegistry.probe(image) : FormatRegistry.require(imageFormat.format);
        Optional<ImageChecker> checker = fmt.checker();
        if (checker.isEmpty()) {
            vd.err.println(VdMain.PROG + ": " + image + ": check is not supported by " + fmt.name());
            return NOT_SUPPORTED;
        }
        CheckReport r = checker.get().check(image, mode);
        for (String note : r.notes()) {
            vd.err.println(VdMain.PROG + ": " + image + ": " + note);
        }
        if (output.json(json)) {
            vd.out.println(Json.write(toJson(r, fmt)));
        } else {
            printHuman(r);
        }
        vd.out.flush();
        return r.exitStatus();
    }

    private Repair parseRepair() {
        if (repair == null) {
            return Repair.NONE;
        }
        return switch (repair) {
            case "leaks" -> Repair.LEAKS;
            case "all" -> Repair.ALL;
            default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "-r takes 'leaks' or 'all', not '" + repair + "'");
        };
    }

    private void printHuman(CheckReport r) {
        for (Finding f : r.findings()) {
            vd.err.println(f.message());
        }
        long hidden = r.corruptions() + r.leaks() - r.findings().size();
        if (hidden > 0) {
            vd.err.println("(" + hidden + " more not shown)");
        }
        if (r.corruptionsFixed() > 0 || r.leaksFixed() > 0) {
            vd.out.println("The following inconsistencies were found and repaired:");
            vd.out.println();
            vd.out.println("    " + r.leaksFixed() + " leaked clusters");
            vd.out.println("    " + r.corruptionsFixed() + " corruptions");
            vd.out.println();
            vd.out.println("Double checking the fixed image now...");
        }
        if (r.incompleteReason() != null) {
            vd.out.println("The check could not complete: " + r.incompleteReason());
        } else if (r.corruptions() == 0 && r.leaks() == 0) {
            vd.out.println("No errors were found on the image.");
        } else {
            if (r.corruptions() > 0) {
                vd.out.println();
                vd.out.println(r.corruptions() + " errors were found on the image.");
                vd.out.println("Data may be corrupted, or further writes to the image may corrupt it.");
            }
            if (r.leaks() > 0) {
                vd.out.println();
                vd.out.println(r.leaks() + " leaked clusters were found on the image.");
                vd.out.println("This means waste of disk space, but no harm to data.");
            }
        }
        if (r.totalClusters() > 0 && r.allocatedClusters() >= 0 && r.fragmentedClusters() >= 0) {
            long a = r.allocatedClusters();
            vd.out.println(a + "/" + r.totalClusters() + " = " + percent(a, r.totalClusters()) + "% allocated, "
                    + percent(Math.max(0, r.fragmentedClusters()), a) + "% fragmented, "
                    + percent(Math.max(0, r.compressedClusters()), a) + "% compressed clusters");
        }
        if (r.imageEndOffset() > 0) {
            vd.out.println("Image end offset: " + r.imageEndOffset());
        }
    }

    /** 100 * part / whole with two decimals, rounded as C's printf rounds (the binary value, ties to even). */
    static String percent(long part, long whole) {
        double v = whole == 0 ? 0 : 100.0 * part / whole;
        return new BigDecimal(v).setScale(2, RoundingMode.HALF_EVEN).toPlainString();
    }

    private Map<String, Object> toJson(CheckReport r, ImageFormat fmt) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("filename", image.toString());
        m.put("format", fmt.name());
        m.put("check-errors", r.incompleteReason() == null ? 0 : 1);
        m.put("check-error", r.incompleteReason());
        m.put("corruptions", r.corruptions());
        m.put("leaks", r.leaks());
        m.put("corruptions-fixed", r.corruptionsFixed());
        m.put("leaks-fixed", r.leaksFixed());
        m.put("total-clusters", known(r.totalClusters()));
        m.put("allocated-clusters", known(r.allocatedClusters()));
        m.put("fragmented-clusters", known(r.fragmentedClusters()));
        m.put("compressed-clusters", known(r.compressedClusters()));
        m.put("image-end-offset", known(r.imageEndOffset()));
        m.put("findings", r.findings().stream().map(f -> {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("kind", f.kind() == Finding.Kind.CORRUPTION ? "corruption" : "leak");
            e.put("structure", f.structure());
            e.put("offset", f.offset() < 0 ? null : f.offset());
            e.put("message", f.message());
            return e;
        }).toList());
        m.put("notes", List.copyOf(r.notes()));
        return m;
    }

    private static Long known(long v) {
        return v < 0 ? null : v;
    }
}
