package org.vdmount.vd;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * How to open an image or a chain.
 *
 * @param readOnly               open every file O_RDONLY (parents are always read-only)
 * @param parentDirs             extra directories searched for parents (after the child's own)
 * @param allowAbsoluteParents   follow absolute parent locators outside the search directories
 * @param ignoreParentUuid       accept a parent whose UUID does not match (forensic override)
 * @param warnings               receives one-line warnings (checksum mismatch, backup used, ...)
 */
public record OpenOptions(boolean readOnly, List<Path> parentDirs, boolean allowAbsoluteParents,
                          boolean ignoreParentUuid, Consumer<String> warnings) {

    public OpenOptions {
        parentDirs = List.copyOf(parentDirs);
        warnings = warnings == null ? w -> { } : warnings;
    }

    public static OpenOptions defaultReadOnly() {
        return new OpenOptions(true, List.of(), false, false, null);
    }

    public static OpenOptions defaultReadWrite() {
        return new OpenOptions(false, List.of(), false, false, null);
    }

    public OpenOptions withReadOnly(boolean ro) {
        return new OpenOptions(ro, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings);
    }

    public OpenOptions withParentDirs(List<Path> dirs) {
        return new OpenOptions(readOnly, dirs, allowAbsoluteParents, ignoreParentUuid, warnings);
    }

    public OpenOptions withWarnings(Consumer<String> w) {
        return new OpenOptions(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, w);
    }

    public OpenOptions withAllowAbsoluteParents(boolean allow) {
        return new OpenOptions(readOnly, parentDirs, allow, ignoreParentUuid, warnings);
    }

    public OpenOptions withIgnoreParentUuid(boolean ignore) {
        return new OpenOptions(readOnly, parentDirs, allowAbsoluteParents, ignore, warnings);
    }

    public void warn(String message) {
        warnings.accept(message);
    }
}
