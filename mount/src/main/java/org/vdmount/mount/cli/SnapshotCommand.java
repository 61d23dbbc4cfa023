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
import org.vdmount.vd.Sizes;
import org.vdmount.vd.UnsupportedFeatureException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vd snapshot -l IMAGE}: the internal snapshots of the top image, as qemu-img snapshot -l lists them. */
@Command(name = "snapshot",
        description = {"List the internal snapshots of IMAGE (qcow2), in the columns of 'qemu-img snapshot -l' "
                + "(without ICOUNT). The image is opened read-only. Creating, applying and deleting snapshots "
                + "(-c/-a/-d) are not implemented yet."})
final class SnapshotCommand extends VdCommand {

    @Option(names = "-l", required = true, description = "List the snapshots.")
    boolean list;

    @Parameters(paramLabel = "IMAGE", description = "The image whose snapshots are listed.")
    Path image;

    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT)
            .withZone(ZoneId.systemDefault());

    @Override
    public Integer call() throws Exception {
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
}
