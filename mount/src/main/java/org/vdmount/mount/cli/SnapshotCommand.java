package org.vdmount.mount.cli;

import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.vdmount.vd.Capability;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageSnapshots;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.UnsupportedFeatureException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code vd snapshot -l|-c NAME|-a NAME|-d NAME IMAGE}: lists, creates, applies or deletes the
 * internal snapshots of the top image, as {@code qemu-img snapshot}.
 */
@Command(name = "snapshot",
        description = {"List (-l), create (-c), apply (-a) or delete (-d) the internal snapshots of IMAGE (qcow2), "
                + "as 'qemu-img snapshot'. -l prints the columns of 'qemu-img snapshot -l' (without ICOUNT) and "
                + "opens the image read-only.",
                "-c NAME records the current disk (no VM state) under a new id; a name in use is refused. "
                        + "-a ID|NAME makes the disk what the snapshot recorded (its size too); -d ID|NAME removes "
                        + "the snapshot and frees the clusters only it held. An id is matched before a name.",
                "-c/-a/-d write the image in place, refused while anyone else uses it (-U is refused). "
                        + "Crash-safe: refcounts rise before a reference appears and drop after it is gone, the "
                        + "snapshot table switches in one header write, and the dirty bit (version 3) makes the "
                        + "next writable open reclaim what a kill left leaked."})
final class SnapshotCommand extends ModifyingCommand {

    @ArgGroup(exclusive = true, multiplicity = "1")
    Action action;

    static final class Action {
        @Option(names = "-l", description = "List the snapshots.")
        boolean list;

        @Option(names = "-c", paramLabel = "NAME", description = "Create a snapshot named NAME.")
        String create;

        @Option(names = "-a", paramLabel = "ID|NAME", description = "Apply (revert the disk to) a snapshot.")
        String apply;

        @Option(names = "-d", paramLabel = "ID|NAME", description = "Delete a snapshot.")
        String delete;
    }

    @Parameters(paramLabel = "IMAGE", description = "The image whose snapshots are listed.")
    Path image;

    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT)
            .withZone(ZoneId.systemDefault());

    @Override
    public Integer call() throws Exception {
        if (!action.list) {
            return change();
        }
        try (Disk disk = Disk.open(image, vd.openOptions(common))) {
            Image top = disk.top();
            if (!top.format().can(Capability.INTERNAL_SNAPSHOTS)) {
                throw new UnsupportedFeatureException(image + ": " + top.format().name()
                        + " images have no internal snapshots");
            }
            Object listed = top.details().get("snapshots");
            List<?> snaps = listed instanceof List<?> l ? l : List.of();
            if (snaps.isEmpty()) {
                return 0; // qemu-img prints nothing either
            }
            vd.out.println("Snapshot list:");
            vd.out.println(String.format(Locale.ROOT, "%-9s %-17s %7s %19s %12s", "ID", "TAG", "VM SIZE", "DATE",
                    "VM CLOCK"));
            for (Object o : snaps) {
                Map<?, ?> s = (Map<?, ?>) o;
                long clock = ((Number) s.get("vm_clock_ns")).longValue();
                long secs = clock / 1_000_000_000L;
                String vmClock = String.format(Locale.ROOT, "%02d:%02d:%02d.%03d", secs / 3600, secs / 60 % 60,
                        secs % 60, clock / 1_000_000 % 1000);
                long vmState = ((Number) s.get("vm_state_bytes")).longValue();
                String date = DATE.format(Instant.parse((String) s.get("date")));
                vd.out.println(String.format(Locale.ROOT, "%-9s %-17s %7s %19s %12s", s.get("id"), s.get("name"),
                        vmState == 0 ? "0 B" : Sizes.human(vmState), date, vmClock));
            }
        }
        vd.out.flush();
        return 0;
    }

    /** -c, -a or -d: prints nothing on success, as qemu-img. */
    private int change() throws Exception {
        var options = lockedOptions();
        ImageSnapshots.Op op = action.create != null ? ImageSnapshots.Op.CREATE
                : action.apply != null ? ImageSnapshots.Op.APPLY : ImageSnapshots.Op.DELETE;
        String name = action.create != null ? action.create : action.apply != null ? action.apply : action.delete;
        String id = ImageSnapshots.change(image, null, op, name, options);
        vd.note(common, op.name().toLowerCase(Locale.ROOT) + " snapshot " + id + " ('" + name + "') of " + image);
        return 0;
    }
}
