package org.vdmount.mount.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.UsageMessageSpec;

/**
 * What --help shows beyond the options, and the man pages with it ({@link ManPage} renders the
 * same {@link CommandLine}): examples, the -o keys of vdmount, the formats of this build. Options
 * are shown as {@code -o OPTS}, {@code --fuse NAME} (picocli writes {@code -o=OPTS}; both
 * spellings parse).
 */
final class HelpText {
    private HelpText() {
    }

    /** vdmount's command line with its examples, -o keys and formats. */
    static CommandLine vdmount(CommandLine cl) {
        List<String> footer = new ArrayList<>(List.of(
                "",
                "Examples:",
                "  mkdir -p /mnt/x && vdmount disk.vhdx /mnt/x",
                "      read-only: /mnt/x/disk is the whole disk, /mnt/x/p1 ... its partitions",
                "  mount -o loop,ro,noload /mnt/x/p1 /mnt/fs",
                "      the filesystem in partition 1 (noload: no ext3/4 journal replay)",
                "  vdmount --parent-dir /cases/base child.vhd /mnt/x",
                "      a chain whose parent images were moved to /cases/base",
                "  vdmount d.vdi d.vhdx /mnt/x",
                "      several images: one directory each, here /mnt/x/d.vdi/ and /mnt/x/d.vhdx/",
                "  vdmount --rw disk.qcow2 /mnt/x",
                "      writable: writes land in disk.qcow2",
                "  vdmount --password-file pw.txt disk.luks /mnt/x",
                "      an encrypted (LUKS) image; without --password-file a terminal is asked",
                "  vdmount --allow-truncated partial.vmdk /mnt/x",
                "      a copy cut short: missing data reads as zeros, one warning names it",
                "  mount -t fuse.vdmount disk.vdi /mnt/x -o ro,parent_dir=/cases",
                "  /cases/disk.vdi /mnt/x fuse.vdmount ro,noauto,parent_dir=/cases 0 0",
                "      the same through mount(8), and as an fstab line (then: mount /mnt/x)",
                "  fusermount -u /mnt/x",
                "      unmount (as root also: umount /mnt/x)",
                "",
                "mount(8) and fstab: every long option is also an -o key, with _ for - (these can be given "
                        + "after -o, comma separated): " + keyList(cl) + ". "
                        + "-o rw, which mount(8) passes unless told ro, keeps the mount read-only. "
                        + "Other -o items go to FUSE (allow_other, nonempty, ...).",
                "",
                "Formats (found by content, not by extension): " + formatList() + ".",
                "",
                "Exit status: 0 mounted (or unmounted after -f), 1 failure, 2 usage error."));
        cl.getCommandSpec().usageMessage().footer(escape(footer));
        return spacedOptions(cl);
    }

    /** vd's command line with its examples and formats. */
    static CommandLine vd(CommandLine cl) {
        UsageMessageSpec usage = cl.getCommandSpec().usageMessage();
        List<String> footer = new ArrayList<>(List.of(usage.footer()));
        footer.addAll(List.of(
                "",
                "Examples:",
                "  vd info disk.vhdx",
                "      format, size, the chain's layers and the partitions",
                "  vd convert -O qcow2 disk.vmdk disk.qcow2",
                "      the whole chain into a new image",
                "  vd convert -c -O qcow2 disk.vmdk small.qcow2",
                "      the same with compressed clusters (as qemu-img convert -c)",
                "  vd create -f vhdx new.vhdx 20G",
                "      a new dynamic image; vd create -f vhdx -o help lists its options",
                "  vd create -f luks --password-file pw.txt new.luks 10G",
                "      a LUKS2 volume (-o luks-version=1 for LUKS1); every verb reads it with --password-file",
                "  vd create -f vdi -b base.vdi child.vdi",
                "      a differencing image over base.vdi",
                "  vd serve --socket /tmp/d.sock disk.vhdx",
                "      the disk over NBD: qemu-img info 'nbd+unix:///disk.vhdx?socket=/tmp/d.sock'",
                "  vd compact disk.vdi",
                "      free zero blocks (or blocks equal to the parent) and make the file smaller",
                "  vd verify evidence.E01",
                "      recompute the MD5/SHA-1 an E01 set stores and compare (exit 0 match, 1 mismatch, 2 error);",
                "      a .dmg: the CRC-32s of its data fork and block tables",
                "  vd resize disk.qcow2 +10G",
                "      10 GiB more (vd resize --shrink disk.qcow2 -10G takes it back if nothing lies there)",
                "  vd rebase -b other.qcow2 top.qcow2",
                "      top.qcow2 over other.qcow2, reading the same (differences copied first)",
                "  vd amend -o uuid=5eed5eed-aaaa-4bbb-8ccc-dddddddddddd child.vhd",
                "      a new identity; vd amend -o help child.vhd lists the keys it stores",
                "  vd snapshot -c before-upgrade disk.qcow2",
                "      an internal snapshot; -a before-upgrade reverts to it, -d deletes it, -l lists them",
                "",
                "Formats (found by content, not by extension): " + formatList() + "."));
        usage.footer(escape(footer));
        return spacedOptions(cl);
    }

    /** The -o keys of vdmount's options, with a value placeholder where one is needed. */
    static String keyList(CommandLine cl) {
        List<String> keys = new ArrayList<>();
        for (Map.Entry<String, OptionSpec> e : MountOptionKeys.keys(cl.getCommandSpec()).entrySet()) {
            keys.add(e.getKey() + (e.getValue().arity().max() > 0 ? "=" + e.getValue().paramLabel() : ""));
        }
        return String.join(", ", keys);
    }

    /** Every registered format and its extensions: {@code vdi (.vdi), vhd (.vhd .avhd), ...}. */
    static String formatList() {
        List<String> all = new ArrayList<>();
        for (ImageFormat f : FormatRegistry.all()) {
            all.add(f.name() + " (" + String.join(" ", f.extensions().stream().map(e -> "." + e).toList()) + ")");
        }
        return String.join(", ", all);
    }

    /** Footer lines are format strings to picocli: a literal % must be doubled. */
    private static String[] escape(List<String> lines) {
        return lines.stream().map(l -> l.replace("%", "%%")).toArray(String[]::new);
    }

    /**
     * Shows {@code -o OPTS} instead of picocli's {@code -o=OPTS} in the synopsis and option list of
     * the command and every subcommand (parsing still takes both).
     */
    static CommandLine spacedOptions(CommandLine cl) {
        UsageMessageSpec usage = cl.getCommandSpec().usageMessage();
        var sections = usage.sectionMap();
        var synopsis = sections.get(UsageMessageSpec.SECTION_KEY_SYNOPSIS);
        var options = sections.get(UsageMessageSpec.SECTION_KEY_OPTION_LIST);
        sections.put(UsageMessageSpec.SECTION_KEY_SYNOPSIS, help -> spaced(synopsis.render(help)));
        sections.put(UsageMessageSpec.SECTION_KEY_OPTION_LIST, help -> spaced(options.render(help)));
        usage.sectionMap(sections);
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getParent() == cl) {
                spacedOptions(sub);
            }
        }
        return cl;
    }

    /** {@code -o=OPTS} / {@code --fuse=NAME} → {@code -o OPTS} / {@code --fuse NAME}. */
    static String spaced(String text) {
        return text.replaceAll("(?m)(?<=^|[\\s\\[(])(--?[A-Za-z0-9][\\w-]*)=(?=[A-Z<])", "$1 ");
    }
}
