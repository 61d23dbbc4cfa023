package org.vdmount.vd;

import java.io.IOException;
import java.io.UncheckedIOException;
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
 * name is looked up in those directories (Windows paths always by file name). Only regular files
 * are opened (no FIFO, device or search directory). Formats that record only a UUID (VDI) are
 * matched by scanning the directories for images of the same format; so is a UUID-linked parent
 * whose locators name no fitting file (renamed). Cycles and self references are found by real
 * path ({@link #identity}); {@link Disk#fromTop} bounds the depth by {@link #MAX_DEPTH}.
 */
final class ChainResolver {
    static final int MAX_DEPTH = 256;

    private ChainResolver() {
    }

    /**
     * Opens the parent of {@code child} read-only and checks its identity. Candidates are tried
     * in order; one that cannot be opened or has another UUID does not stop the search (a stale
     * same-named file next to the child must not hide the real parent in a search directory):
     * it is reported as a warning if another one fits, as the error if none does.
     */
    static Image openParent(Image child, OpenOptions options) throws IOException {
        ParentReference ref = child.parent();
        Path childPath = child.storage().path().toAbsolutePath().normalize();
        Path childIdentity = identity(childPath);
        String who = child.format().name() + ": parent of " + childPath;
        List<Path> dirs = searchDirs(childPath, options);
        OpenOptions parentOptions = options.withReadOnly(true);
        ImageFormat hinted = hintedFormat(child, ref);

        List<String> skipped = new ArrayList<>();
        List<Path> candidates = candidates(ref, dirs, options, skipped);
        List<String> passedOver = new ArrayList<>();
        boolean self = false;
        IOException firstError = null;
        String mismatch = null;
        Image fallback = null;
        Image found = null;
        try {
            for (Path candidate : candidates) {
                Path norm = candidate.toAbsolutePath().normalize();
                if (norm.equals(childPath) || identity(candidate).equals(childIdentity)) {
                    self = true;
                    continue;
                }
                boolean dir = Files.isDirectory(candidate);
                if (!dir && !Files.isRegularFile(candidate)
                        || dir && (hinted != null || dirs.contains(norm) || childPath.startsWith(norm))) {
                    continue; // missing, a FIFO or device; directories only as bundles found by probing
                }
                Image parent;
                try {
                    parent = hinted != null ? hinted.open(candidate, parentOptions)
                            : FormatRegistry.open(candidate, parentOptions);
                } catch (IOException e) {
                    passedOver.add(candidate + ": " + e.getMessage());
                    firstError = firstError != null ? firstError : e instanceof VdException ? e
                            : new ChainException(who + ": cannot open " + candidate + ": " + e.getMessage());
                    continue;
                }
                String wrong = identityMismatch(child, ref, parent);
                if (wrong == null) {
                    found = parent;
                    break;
                }
                passedOver.add(wrong);
                if (options.ignoreParentUuid() && fallback == null) {
                    fallback = parent;
                } else {
                    parent.close();
                }
                mismatch = mismatch != null ? mismatch : wrong;
            }
            if (found == null && ref.uuid() != null) {
                found = scanForUuid(child, ref, dirs, parentOptions);
            }
        } catch (IOException | RuntimeException e) {
            closeQuietly(fallback);
            throw e;
        }
        if (found != null) {
            closeQuietly(fallback);
            passedOver.forEach(p -> options.warn(VdException.oneLine(who + ": passed over " + p)));
            return found;
        }
        if (fallback != null) {
            options.warn(VdException.oneLine(mismatch + " (ignored)"));
            return fallback;
        }
        if (mismatch != null) {
            throw new ChainException(mismatch);
        }
        if (firstError != null) {
            throw firstError;
        }
        throw notFound(who, ref, self, candidates, dirs, skipped);
    }

    /** What was tried, what was not followed, and which --parent-dir would help. */
    private static ChainException notFound(String who, ParentReference ref, boolean self, List<Path> candidates,
                                           List<Path> dirs, List<String> skipped) {
        return new ChainException(who + (self ? " is the image itself (its locator names itself)" : " not found")
                + (ref.uuid() != null ? " (uuid " + ref.uuid() + ")" : "")
                + (candidates.isEmpty() ? "" : "; tried " + join(candidates))
                + (ref.uuid() != null && ref.locators().isEmpty() ? "; searched " + join(dirs) : "")
                + "; " + (skipped.isEmpty() ? "use --parent-dir DIR" : String.join("; ", skipped)));
    }

    private static String join(List<Path> paths) {
        return String.join(", ", paths.stream().map(Path::toString).toList());
    }

    /** A file's identity for cycle checks: its real path (links resolved), else its normalized path. */
    static Path identity(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
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

    /** Candidate paths, best first; {@code skipped} gets a note for each locator not followed. */
    private static List<Path> candidates(ParentReference ref, List<Path> dirs, OpenOptions options,
                                         List<String> skipped) {
        Set<Path> out = new LinkedHashSet<>();
        for (String raw : ref.locators()) {
            if (raw == null || raw.isBlank() || raw.indexOf('\0') >= 0) {
                continue; // hostile or empty: not a path
            }
            try {
                addCandidates(raw, dirs, options, out, skipped);
            } catch (InvalidPathException e) {
                // a locator that is no valid path on this system names no candidate
            }
        }
        return new ArrayList<>(out);
    }

    private static void addCandidates(String raw, List<Path> dirs, OpenOptions options, Set<Path> out,
                                      List<String> skipped) {
        String loc = raw.replace('\\', '/');
        String name = loc.substring(loc.lastIndexOf('/') + 1);
        boolean named = !name.isEmpty() && !name.equals("..") && !name.equals(".");
        boolean windowsAbsolute = loc.length() >= 2 && loc.charAt(1) == ':'
                || loc.startsWith("//");
        boolean absolute = windowsAbsolute || loc.startsWith("/");
        if (absolute) {
            if (options.allowAbsoluteParents() && !windowsAbsolute) {
                out.add(Path.of(loc).normalize());
            } else if (!windowsAbsolute && named) {
                note(skipped, dirs, "absolute path " + raw + " is not followed", Path.of(loc).normalize().getParent());
            }
        } else {
            for (Path dir : dirs) {
                Path p = dir.resolve(loc.startsWith("./") ? loc.substring(2) : loc).normalize();
                if (p.startsWith(dir) || options.allowAbsoluteParents()) {
                    out.add(p);
                } else if (dir.equals(dirs.get(0)) && named) {
                    note(skipped, dirs, "relative path " + raw + " leaves " + dir, p.getParent());
                }
            }
        }
        if (named) {
            for (Path dir : dirs) {
                out.add(dir.resolve(name));
            }
        }
    }

    /** Notes a locator that was not followed, with the search directory that would find it. */
    private static void note(List<String> skipped, List<Path> dirs, String what, Path where) {
        String hint = ": use --parent-dir " + where;
        if (where != null && !dirs.contains(where) && skipped.stream().noneMatch(n -> n.endsWith(hint))) {
            skipped.add(what + hint);
        }
    }

    /** The format the child names for its parent, or null to probe; unknown names are refused. */
    private static ImageFormat hintedFormat(Image child, ParentReference ref) throws UnsupportedFeatureException {
        if (ref.formatHint() == null) {
            return null;
        }
        return FormatRegistry.byName(ref.formatHint()).orElseThrow(() -> new UnsupportedFeatureException(
                child.format().name() + ": " + child.storage().path() + " needs a parent of format '"
                        + ref.formatHint() + "', which is not supported (known: " + String.join(", ",
                        FormatRegistry.all().stream().map(ImageFormat::name).toList()) + ")"));
    }

    /** Why {@code parent} is not the image {@code child} links to, or null if it is (or no UUID is recorded). */
    private static String identityMismatch(Image child, ParentReference ref, Image parent) {
        UUID expected = ref.uuid();
        UUID actual = parent.linkUuid();
        if (expected == null || expected.equals(actual)) {
            return null;
        }
        return child.format().name() + ": parent UUID mismatch for " + child.storage().path()
                + ": expects " + expected + ", " + parent.storage().path() + " has " + actual;
    }

    private static void closeQuietly(Image img) {
        if (img != null) {
            try {
                img.close();
            } catch (IOException ignored) {
                // a read-only parent we give up on: nothing to lose
            }
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
            } catch (IOException | UncheckedIOException e) {
                continue; // an unreadable search directory holds no candidate
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
