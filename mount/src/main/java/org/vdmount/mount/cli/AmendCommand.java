package org.vdmount.mount.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.MetadataField;
import org.vdmount.vd.VdException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code vd amend -o K=V[,K=V] [-f FMT] IMAGE}: change recorded metadata of the image itself. */
@Command(name = "amend",
        description = {"Change what IMAGE records about itself: uuid=UUID, parent-uuid=UUID, comment=TEXT, "
                + "geometry=C/H/S (VirtualBox's sethduuid / sethdparentuuid / VDSetComment / VDSetPCHSGeometry), "
                + "lazy_refcounts=on|off (qemu-img amend's qcow2 key).",
                "Which keys a file stores depends on its format: VDI the first four; VHD uuid, geometry and "
                        + "(differencing) parent-uuid; VHDX uuid and (differencing) parent-uuid; VMDK uuid and "
                        + "geometry; qcow2 (compat 1.1) lazy_refcounts; QED none (backing files change with 'vd "
                        + "rebase'); -o help lists "
                        + "IMAGE's. A key the format does not store is refused naming it. Only IMAGE is opened "
                        + "(writable, locked); its parents need not exist."})
final class AmendCommand extends ModifyingCommand {

    @Option(names = "-o", paramLabel = "K=V,...", required = true,
            description = "Keys to change (repeatable): uuid, parent-uuid, comment, geometry, lazy_refcounts; -o help "
                    + "lists IMAGE's.")
    List<String> values = new ArrayList<>();

    @Mixin
    ImageFormatOption format;

    @Parameters(paramLabel = "IMAGE", description = "The image to change.")
    Path image;

    @Override
    public Integer call() throws Exception {
        var options = lockedOptions();
        ImageFormat fmt = format.format != null ? FormatRegistry.require(format.format) : FormatRegistry.probe(image);
        boolean help = values.stream().flatMap(v -> List.of(v.split(",", -1)).stream()).map(String::strip)
                .anyMatch(v -> v.equals("help") || v.equals("?"));
        if (help) {
            try (Image img = fmt.open(image, options.withReadOnly(true))) {
                List<MetadataField> keys = img.editableFields().stream().filter(f -> f != MetadataField.BACKING
                        && (f != MetadataField.PARENT_UUID || img.parent() != null)).toList();
                vd.out.println("Keys " + fmt.name() + " (" + img.variant() + ") stores for vd amend:"
                        + (keys.isEmpty() ? " none" : ""));
                for (MetadataField f : keys) {
                    vd.out.println("  " + f.key() + "=" + placeholder(f));
                }
                if (img.editableFields().contains(MetadataField.BACKING)) {
                    vd.out.println("The backing file changes with vd rebase.");
                }
            }
            vd.out.flush();
            return 0;
        }
        MetadataEdit edit = parse(FormatOptions.parse(values, spec.commandLine()));
        try (Image img = fmt.open(image, options.withReadOnly(false))) {
            img.edit(edit);
        }
        vd.note(common, "amended " + image + ": " + String.join(", ", values));
        return 0;
    }

    private static String placeholder(MetadataField f) {
        return switch (f) {
            case UUID, PARENT_UUID -> "UUID";
            case COMMENT -> "TEXT";
            case GEOMETRY -> "CYLINDERS/HEADS/SECTORS";
            case BACKING -> "PATH";
            case LAZY_REFCOUNTS -> "on|off";
        };
    }

    private MetadataEdit parse(Map<String, String> kv) throws VdException {
        UUID uuid = null;
        UUID parentUuid = null;
        String comment = null;
        MetadataEdit.Geometry geometry = null;
        Boolean lazy = null;
        for (Map.Entry<String, String> e : kv.entrySet()) {
            String v = e.getValue();
            switch (e.getKey()) {
                case "uuid" -> uuid = uuid(e.getKey(), v);
                case "parent-uuid" -> parentUuid = uuid(e.getKey(), v);
                case "comment" -> comment = v;
                case "geometry" -> geometry = MetadataEdit.Geometry.parse(v, "geometry");
                case "lazy_refcounts" -> {
                    if (!v.equals("on") && !v.equals("off")) {
                        throw new ParameterException(spec.commandLine(), "lazy_refcounts is on or off, not '" + v + "'");
                    }
                    lazy = v.equals("on");
                }
                default -> throw new ParameterException(spec.commandLine(), "unknown amend key '" + e.getKey()
                        + "' (known: uuid, parent-uuid, comment, geometry, lazy_refcounts; the backing file changes with vd "
                        + "rebase)");
            }
        }
        return new MetadataEdit(uuid, parentUuid, comment, geometry, null, lazy);
    }

    private UUID uuid(String key, String value) {
        try {
            if (value.length() == 36) {
                return UUID.fromString(value);
            }
        } catch (IllegalArgumentException e) {
            // the message below
        }
        throw new ParameterException(spec.commandLine(), key + " must be a UUID like "
                + "01234567-89ab-cdef-0123-456789abcdef, not '" + value + "'");
    }
}
