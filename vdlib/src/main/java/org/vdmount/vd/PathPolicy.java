package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * The one containment rule for paths taken from untrusted image files (parent locators, VMDK
 * extent names, qcow2 data files, bundles): a file is followed only if its <em>real</em> path
 * (every symbolic link resolved) lies inside an allowed directory, unless
 * {@link OpenOptions#allowAbsoluteParents()} lifts the rule. The allowed directories are real
 * paths too: the directory the image was named in, the directory the image really lives in (the
 * same unless the image itself is reached through a link the user chose) and each
 * {@code --parent-dir}. Comparing text instead would let {@code link.raw -> /etc/passwd} next to
 * an image read any file the user can read.
 *
 * <p>Callers open the real path this class returns, never the path they asked about, so a link
 * swapped after the check cannot redirect the open.
 */
public final class PathPolicy {
    private final String image;
    private final List<Path> allowed;
    private final boolean unrestricted;

    private PathPolicy(String image, List<Path> allowed, boolean unrestricted) {
        this.image = image;
        this.allowed = List.copyOf(allowed);
        this.unrestricted = unrestricted;
    }

    /** The policy for files named inside {@code image}, opened with {@code options}. */
    public static PathPolicy forImage(Path image, OpenOptions options) {
        Path abs = image.toAbsolutePath().normalize();
        Set<Path> dirs = new LinkedHashSet<>();
        addReal(dirs, abs.getParent());
        try {
            addReal(dirs, abs.toRealPath().getParent());
        } catch (IOException e) {
            // an image that cannot be resolved has no second directory
        }
        for (Path d : options.parentDirs()) {
            addReal(dirs, d.toAbsolutePath().normalize());
        }
        return new PathPolicy(abs.toString(), new ArrayList<>(dirs), options.allowAbsoluteParents());
    }

    private static void addReal(Set<Path> dirs, Path dir) {
        if (dir == null) {
            return;
        }
        try {
            Path real = dir.toRealPath();
            if (Files.isDirectory(real)) {
                dirs.add(real);
            }
        } catch (IOException e) {
            // a directory that does not exist contains nothing
        }
    }

    /** The allowed directories, real paths, in search order. */
    public List<Path> allowedDirs() {
        return allowed;
    }

    /** Whether the rule is lifted ({@link OpenOptions#allowAbsoluteParents()}). */
    public boolean unrestricted() {
        return unrestricted;
    }

    /** Whether a real path lies inside one of the allowed directories (or the rule is lifted). */
    public boolean permits(Path real) {
        if (unrestricted) {
            return true;
        }
        for (Path d : allowed) {
            if (real.startsWith(d)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The real path of {@code candidate}, which the image names as {@code locator}: null if it
     * does not exist (or cannot be resolved), the real path if {@link #permits} it, else a
     * {@link ContainmentException} naming the image, the locator, the real target and the
     * allowed directories.
     */
    public Path admit(Path candidate, String locator) throws ContainmentException {
        Path real;
        try {
            real = candidate.toAbsolutePath().toRealPath();
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException | SecurityException e) {
            return null; // a loop of links, a component that is no directory: nothing to open
        }
        if (!permits(real)) {
            throw refusal(locator, real);
        }
        return real;
    }

    /** The one-line refusal for {@code locator}, which really points at {@code real}. */
    public ContainmentException refusal(String locator, Path real) {
        return new ContainmentException(image + ": '" + locator + "' really points to " + real
                + ", outside the allowed directories (" + String.join(", ", allowed.stream().map(Path::toString)
                .toList()) + "); refused (add its directory with --parent-dir, or --allow-absolute-parents)");
    }

    /**
     * The regular files directly inside {@code dir} that may be opened: real paths, sorted by
     * name as listed; a symbolic link counts only if its target is a regular file the policy
     * {@link #permits}; devices, FIFOs, sockets and directories never count. Names are filtered by
     * {@code nameFilter} before anything is resolved. An unreadable directory lists nothing.
     */
    public List<Path> regularFilesIn(Path dir, Predicate<String> nameFilter) {
        List<Path> entries;
        try (Stream<Path> s = Files.list(dir)) {
            entries = s.filter(p -> nameFilter.test(p.getFileName().toString())).sorted().toList();
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
        List<Path> out = new ArrayList<>();
        for (Path p : entries) {
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (!a.isRegularFile() && !a.isSymbolicLink()) {
                    continue;
                }
                Path real = p.toRealPath();
                if (permits(real) && Files.readAttributes(real, BasicFileAttributes.class,
                        LinkOption.NOFOLLOW_LINKS).isRegularFile()) {
                    out.add(real);
                }
            } catch (IOException | SecurityException e) {
                // vanished, a dangling link or a loop: not a candidate
            }
        }
        return out;
    }
}
