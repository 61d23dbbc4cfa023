package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Finds the parent of a differencing image. Locators are untrusted: a relative locator is resolved
 * against the child's directory and the search directories and must stay inside them; an absolute
 * one is followed only with {@link OpenOptions#allowAbsoluteParents()}, otherwise only its file
 * name is looked up in those directories (Windows paths always by file name). Every candidate then
 * passes {@link PathPolicy}: its real path (links resolved) must lie inside an allowed directory,
 * and the real path is what is opened. Only regular files are opened (no FIFO, device or search
 * directory). Formats that record only a UUID (VDI) are matched by scanning the allowed
 * directories for images of the same format; so is a UUID-linked parent whose locators name no
 * fitting file (renamed). Cycles and self references are found by real path ({@link #identity});
 * {@link Disk#fromTop} bounds the depth by {@link #MAX_DEPTH}.
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
        PathPolicy policy = PathPolicy.forImage(childPath, options);
        OpenOptions parentOptions = options.withReadOnly(true);
        ImageFormat hinted = hintedFormat(child, ref);

        List<String> skipped = new ArrayList<>();
        Map<Path, String> candidates = candidates(ref, dirs, options, skipped);
        List<String> passedOver = new ArrayList<>();
        Set<Path> tried = new HashSet<>();
        boolean self = false;
        IOException firstError = null;
        ContainmentException refused = null;
        String mismatch = null;
        Image fallback = null;
        Image found = null;
        try {
            for (Map.Entry<Path, String> c : candidates.entrySet()) {
                Path real;
                try {
                    real = policy.admit(c.getKey(), c.getValue());
                } catch (ContainmentException e) {
                    passedOver.add(e.getMessage());
                    refused = refused != null ? refused : e;
                    continue;
                }
                if (real == null || !tried.add(real)) {
                    continue; // missing, or the same file reached by another name
                }
                if (real.equals(childIdentity)) {
                    self = true;
                    continue;
                }
                boolean dir = Files.isDirectory(real);
                if (!dir && !Files.isRegularFile(real) || dir && (hinted != null || policy.allowedDirs().contains(real)
                        || dirs.contains(real) || childIdentity.startsWith(real))) {
                    continue; // a FIFO or device; directories only as bundles found by probing
                }
                Image parent;
                try {
                    parent = hinted != null ? hinted.open(real, parentOptions) : FormatRegistry.open(real, parentOptions);
                } catch (IOException e) {
                    passedOver.add(real + ": " + e.getMessage());
                    firstError = firstError != null ? firstError : e instanceof VdException ? e
                            : new ChainException(who + ": cannot open " + real + ": " + e.getMessage());
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
                found = scanForUuid(child, ref, policy, parentOptions);
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
        if (refused != null) {
            throw new ContainmentException(child.format().name() + ": parent of " + refused.getMessage());
        }
        throw notFound(who, ref, self, new ArrayList<>(candidates.keySet()), dirs, skipped);
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
    private static Map<Path, String> candidates(ParentReference ref, List<Path> dirs, OpenOptions options,
                                                List<String> skipped) {
        Map<Path, String> out = new LinkedHashMap<>();
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
        return out;
    }

    private static void addCandidates(String raw, List<Path> dirs, OpenOptions options, Map<Path, String> out,
                                      List<String> skipped) {
        String loc = raw.replace('\\', '/');
        String name = loc.substring(loc.lastIndexOf('/') + 1);
        boolean named = !name.isEmpty() && !name.equals("..") && !name.equals(".");
        boolean windowsAbsolute = loc.length() >= 2 && loc.charAt(1) == ':'
                || loc.startsWith("//");
        boolean absolute = windowsAbsolute || loc.startsWith("/");
        if (absolute) {
            if (options.allowAbsoluteParents() && !windowsAbsolute) {
                out.putIfAbsent(Path.of(loc).normalize(), raw);
            } else if (!windowsAbsolute && named) {
                note(skipped, dirs, "absolute path " + raw + " is not followed", Path.of(loc).normalize().getParent());
            }
        } else {
            for (Path dir : dirs) {
                Path p = dir.resolve(loc.startsWith("./") ? loc.substring(2) : loc).normalize();
                if (p.startsWith(dir) || options.allowAbsoluteParents()) {
                    out.putIfAbsent(p, raw);
                } else if (dir.equals(dirs.get(0)) && named) {
                    note(skipped, dirs, "relative path " + raw + " leaves " + dir, p.getParent());
                }
            }
        }
        if (named) {
            for (Path dir : dirs) {
                out.putIfAbsent(dir.resolve(name), raw);
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
     * Formats that record only the parent's UUID (VDI), and renamed parents, are matched by
     * opening image files in the allowed directories: only regular files the policy permits
     * (links leaving the directories, devices and FIFOs are never opened), only names with an
     * extension of a fitting format, only files whose first bytes that format claims; the first
     * file with the UUID wins.
     */
    private static Image scanForUuid(Image child, ParentReference ref, PathPolicy policy, OpenOptions options)
            throws IOException {
        List<ImageFormat> formats = ref.formatHint() != null
                ? List.of(FormatRegistry.require(ref.formatHint())) : FormatRegistry.all();
        Path childIdentity = identity(child.storage().path());
        Set<Path> seen = new HashSet<>();
        for (Path dir : policy.allowedDirs()) {
            for (Path f : policy.regularFilesIn(dir, n -> byExtension(formats, n) != null)) {
                if (f.equals(childIdentity) || !seen.add(f)) {
                    continue;
                }
                ImageFormat format = claimedBy(formats, f);
                if (format == null) {
                    continue;
                }
                Image candidate;
                try {
                    candidate = format.open(f, options);
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

    /** The format among {@code formats} that claims {@code f} by its first bytes (never raw), or null. */
    private static ImageFormat claimedBy(List<ImageFormat> formats, Path f) {
        ProbeInput in;
        try {
            in = FormatRegistry.probeInput(f);
        } catch (IOException e) {
            return null;
        }
        ImageFormat best = null;
        int bestScore = 1; // raw's score: a file nothing else claims carries no UUID
        for (ImageFormat format : formats) {
            int score = format.probe(in);
            if (score > bestScore) {
                best = format;
                bestScore = score;
            }
        }
        return best;
    }

    private static ImageFormat byExtension(List<ImageFormat> formats, String fileName) {
        String n = fileName.toLowerCase(Locale.ROOT);
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
