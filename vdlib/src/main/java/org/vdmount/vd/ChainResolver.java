package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Finds the parent of a differencing image. Locators are untrusted: a relative locator is resolved
 * against the child's directory and the search directories and must stay inside them; an absolute
 * one is followed only with {@link OpenOptions#allowAbsoluteParents()}, otherwise only its file
 * name is looked up in those directories. Formats that record only a UUID (VDI) are matched by
 * scanning the directories for images of the same format.
 */
final class ChainResolver {
    static final int MAX_DEPTH = 256;

    private ChainResolver() {
    }

    /** Opens the parent of {@code child} read-only and checks its identity. */
    static Image openParent(Image child, OpenOptions options) throws IOException {
        ParentReference ref = child.parent();
        Path childPath = child.storage().path().toAbsolutePath().normalize();
        List<Path> dirs = searchDirs(childPath, options);
        OpenOptions parentOptions = options.withReadOnly(true);

        List<String> tried = new ArrayList<>();
        for (Path candidate : candidates(ref, dirs, options)) {
            tried.add(candidate.toString());
            if (!Files.isRegularFile(candidate) && !Files.isDirectory(candidate)) {
                continue;
            }
            if (candidate.toAbsolutePath().normalize().equals(childPath)) {
                continue;
            }
            Image parent = openAs(candidate, ref, parentOptions);
            checkIdentity(child, ref, parent, options);
            return parent;
        }
        if (ref.uuid() != null) {
            Image byUuid = scanForUuid(child, ref, dirs, parentOptions);
            if (byUuid != null) {
                return byUuid;
            }
        }
        throw new ChainException(child.format().name() + ": parent of " + childPath + " not found"
                + (ref.uuid() != null ? " (uuid " + ref.uuid() + ")" : "")
                + (tried.isEmpty() ? "" : "; tried " + String.join(", ", tried))
                + "; use --parent-dir DIR");
    }

    private static List<Path> searchDirs(Path childPath, OpenOptions options) {
        Set<Path> dirs = new LinkedHashSet<>();
        Path own = childPath.getParent();
        if (own != null) {
            dirs.add(own);
        }
        for (Path d : options.parentDirs()) {
            dirs.add(d.toAbsolutePath().normalize());
        }
        return new ArrayList<>(dirs);
    }

    private static List<Path> candidates(ParentReference ref, List<Path> dirs, OpenOptions options) {
        Set<Path> out = new LinkedHashSet<>();
        for (String raw : ref.locators()) {
            if (raw == null || raw.isBlank() || raw.indexOf('\0') >= 0) {
                continue; // hostile or empty: not a path
            }
            try {
                addCandidates(raw, dirs, options, out);
            } catch (InvalidPathException e) {
                // a locator that is no valid path on this system names no candidate
            }
        }
        return new ArrayList<>(out);
    }

    private static void addCandidates(String raw, List<Path> dirs, OpenOptions options, Set<Path> out) {
        String loc = raw.replace('\\', '/');
        boolean windowsAbsolute = loc.length() >= 2 && loc.charAt(1) == ':'
                || loc.startsWith("//");
        boolean absolute = windowsAbsolute || loc.startsWith("/");
        if (absolute) {
            if (options.allowAbsoluteParents() && !windowsAbsolute) {
                out.add(Path.of(loc).normalize());
            }
        } else {
            for (Path dir : dirs) {
                Path p = dir.resolve(loc.startsWith("./") ? loc.substring(2) : loc).normalize();
                if (p.startsWith(dir) || options.allowAbsoluteParents()) {
                    out.add(p);
                }
            }
        }
        String name = loc.substring(loc.lastIndexOf('/') + 1);
        if (!name.isEmpty() && !name.equals("..") && !name.equals(".")) {
            for (Path dir : dirs) {
                out.add(dir.resolve(name));
            }
        }
    }

    private static Image openAs(Path candidate, ParentReference ref, OpenOptions options) throws IOException {
        if (ref.formatHint() != null) {
            return FormatRegistry.require(ref.formatHint()).open(candidate, options);
        }
        return FormatRegistry.open(candidate, options);
    }

    private static void checkIdentity(Image child, ParentReference ref, Image parent, OpenOptions options)
            throws IOException {
        UUID expected = ref.uuid();
        UUID actual = parent.linkUuid();
        if (expected != null && !expected.equals(actual)) {
            String msg = child.format().name() + ": parent UUID mismatch for " + child.storage().path()
                    + ": expects " + expected + ", " + parent.storage().path() + " has " + actual;
            if (options.ignoreParentUuid()) {
                options.warn(msg + " (ignored)");
                return;
            }
            parent.close();
            throw new ChainException(msg);
        }
    }

    /**
     * Formats that record only the parent's UUID (VDI) are matched by opening the image files in
     * the search directories: those of the hinted format, or of any format without a hint.
     */
    private static Image scanForUuid(Image child, ParentReference ref, List<Path> dirs, OpenOptions options)
            throws IOException {
        List<ImageFormat> formats = ref.formatHint() != null
                ? List.of(FormatRegistry.require(ref.formatHint())) : FormatRegistry.all();
        Path childPath = child.storage().path().toAbsolutePath().normalize();
        for (Path dir : dirs) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(Files::isRegularFile).sorted().toList();
            }
            for (Path f : files) {
                if (f.toAbsolutePath().normalize().equals(childPath)) {
                    continue;
                }
                ImageFormat format = byExtension(formats, f);
                if (format == null) {
                    continue;
                }
                Image candidate;
                try {
                    candidate = ref.formatHint() != null ? format.open(f, options) : FormatRegistry.open(f, options);
                } catch (IOException e) {
                    continue;
                }
                if (ref.uuid().equals(candidate.linkUuid())) {
                    return candidate;
                }
                candidate.close();
            }
        }
        return null;
    }

    private static ImageFormat byExtension(List<ImageFormat> formats, Path f) {
        String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
        for (ImageFormat format : formats) {
            for (String e : format.extensions()) {
                if (n.endsWith("." + e)) {
                    return format;
                }
            }
        }
        return null;
    }
}
