package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.vdmount.vd.Image;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * What a differencing VHD records about its parent (VHD specification, "Dynamic Disk Header":
 * Parent Unique ID, Parent Time Stamp, Parent Unicode Name, Parent Locator Entries): the parent's
 * identity, its modification time, its file name, and two locators, a relative (W2ru) and an
 * absolute (W2ku) UTF-16LE Windows-style path, as Hyper-V and QEMU write them.
 *
 * @param uuid      the parent's unique id (all zeros if it has none)
 * @param timestamp the parent's modification time, seconds since 2000-01-01 UTC
 * @param name      the parent's file name
 * @param relative  W2ru: the path relative to the child's directory, ".\\x.vhd" or "..\\d\\x.vhd"
 * @param absolute  W2ku: the absolute path
 */
record VhdParentLink(UUID uuid, long timestamp, String name, String relative, String absolute) {

    /**
     * The link from {@code child} to {@code parent} (its top layer), reached by {@code given}: a
     * relative {@code given} is relative to the child's directory (as qemu-img takes -b).
     */
    static VhdParentLink of(Path child, Path given, Image parent) throws IOException {
        Path childDir = child.toAbsolutePath().normalize().getParent();
        Path parentPath = childDir.resolve(given != null ? given : parent.storage().path()).normalize();
        String relative = childDir.relativize(parentPath).toString().replace('/', '\\');
        if (!relative.startsWith("..")) {
            relative = ".\\" + relative;
        }
        String name = parentPath.getFileName().toString();
        if (name.getBytes(StandardCharsets.UTF_16BE).length > VhdDynamicHeader.PARENT_NAME_SIZE) {
            throw new UnsupportedFeatureException("vhd: parent file name '" + name + "' is longer than 256 UTF-16 units");
        }
        UUID id = parent.linkUuid() != null ? parent.linkUuid() : new UUID(0, 0);
        long time = VhdCreator.vhdTime(Files.getLastModifiedTime(parent.storage().path()).toInstant());
        return new VhdParentLink(id, time, name, relative, parentPath.toString());
    }

    /** The locator platform codes and their data, best first. */
    String[][] locatorPaths() {
        return new String[][] {{VhdParentLocator.W2RU, relative}, {VhdParentLocator.W2KU, absolute}};
    }

    /** Bytes a locator's data occupies in the file: its length rounded up to whole sectors. */
    static long space(byte[] data) {
        return (Math.max(data.length, 1) + VhdGeometry.SECTOR - 1) & -VhdGeometry.SECTOR;
    }
}
