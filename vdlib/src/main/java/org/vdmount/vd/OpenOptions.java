package org.vdmount.vd;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.vdmount.vd.crypto.KeyStoreSource;
import org.vdmount.vd.crypto.SecretSource;

/**
 * How to open an image or a chain.
 *
 * @param readOnly               open every file O_RDONLY (parents are always read-only)
 * @param parentDirs             extra directories searched for parents (after the child's own)
 * @param allowAbsoluteParents   follow absolute parent locators outside the search directories
 * @param ignoreParentUuid       accept a parent whose UUID does not match (forensic override)
 * @param warnings               receives one-line warnings (checksum mismatch, backup used, ...)
 * @param forceShare             QEMU's {@code -U}: open read-only without taking or testing the
 *                               QEMU-style locks (see {@link org.vdmount.vd.storage.ImageLock});
 *                               only with {@code readOnly}. Honoured by {@link Disk}'s opens.
 * @param allowTruncated         open a file cut short (its header and tables present): guest data
 *                               whose host bytes lie past the end of the file reads as zeros, one
 *                               warning names the missing ranges (see {@link TruncationScan}). Only
 *                               files opened read-only are taken so (the parents under a writable
 *                               overlay); a file opened for writing never is
 * @param secrets                where the password of an encrypted image (LUKS) comes from;
 *                               {@link SecretSource#NONE} refuses every encrypted image in one line
 * @param keyStores              the VirtualBox key store of VDI, VMDK and VHD layers ({@code --keystore}):
 *                               with one, every such layer is read through the crypto filter
 *                               ({@link org.vdmount.vd.crypto.VBoxCryptImage}); {@link KeyStoreSource#NONE}: none
 */
public record OpenOptions(boolean readOnly, List<Path> parentDirs, boolean allowAbsoluteParents,
                          boolean ignoreParentUuid, Consumer<String> warnings, boolean forceShare,
                          boolean allowTruncated, SecretSource secrets, KeyStoreSource keyStores) {

    public OpenOptions {
        keyStores = keyStores == null ? KeyStoreSource.NONE : keyStores;
        parentDirs = List.copyOf(parentDirs);
        warnings = warnings == null ? w -> { } : warnings;
        secrets = secrets == null ? SecretSource.NONE : secrets;
        if (forceShare && !readOnly) {
            throw new IllegalArgumentException("force-share opens read-only; it cannot be combined with writing");
        }
    }

    /** Options without a VirtualBox key store. */
    public OpenOptions(boolean readOnly, List<Path> parentDirs, boolean allowAbsoluteParents,
                       boolean ignoreParentUuid, Consumer<String> warnings, boolean forceShare,
                       boolean allowTruncated, SecretSource secrets) {
        this(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare, allowTruncated,
                secrets, KeyStoreSource.NONE);
    }

    /** Options without a password source. */
    public OpenOptions(boolean readOnly, List<Path> parentDirs, boolean allowAbsoluteParents,
                       boolean ignoreParentUuid, Consumer<String> warnings, boolean forceShare,
                       boolean allowTruncated) {
        this(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare, allowTruncated,
                SecretSource.NONE);
    }

    /** Options that take and test locks, without the truncation override. */
    public OpenOptions(boolean readOnly, List<Path> parentDirs, boolean allowAbsoluteParents,
                       boolean ignoreParentUuid, Consumer<String> warnings, boolean forceShare) {
        this(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare, false);
    }

    /** Options that take and test locks (no forced share). */
    public OpenOptions(boolean readOnly, List<Path> parentDirs, boolean allowAbsoluteParents,
                       boolean ignoreParentUuid, Consumer<String> warnings) {
        this(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, false, false);
    }

    public static OpenOptions defaultReadOnly() {
        return new OpenOptions(true, List.of(), false, false, null);
    }

    public static OpenOptions defaultReadWrite() {
        return new OpenOptions(false, List.of(), false, false, null);
    }

    public OpenOptions withReadOnly(boolean ro) {
        return new OpenOptions(ro, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare && ro,
                allowTruncated, secrets, keyStores);
    }

    public OpenOptions withParentDirs(List<Path> dirs) {
        return new OpenOptions(readOnly, dirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare,
                allowTruncated, secrets, keyStores);
    }

    public OpenOptions withWarnings(Consumer<String> w) {
        return new OpenOptions(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, w, forceShare,
                allowTruncated, secrets, keyStores);
    }

    public OpenOptions withAllowAbsoluteParents(boolean allow) {
        return new OpenOptions(readOnly, parentDirs, allow, ignoreParentUuid, warnings, forceShare,
                allowTruncated, secrets, keyStores);
    }

    public OpenOptions withIgnoreParentUuid(boolean ignore) {
        return new OpenOptions(readOnly, parentDirs, allowAbsoluteParents, ignore, warnings, forceShare,
                allowTruncated, secrets, keyStores);
    }

    /** With QEMU's {@code -U}: read-only, no locks taken or tested. */
    public OpenOptions withForceShare(boolean share) {
        return new OpenOptions(share || readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, share,
                allowTruncated, secrets, keyStores);
    }

    /** With {@code --allow-truncated}: data past the end of a cut file opened read-only reads as zeros. */
    public OpenOptions withAllowTruncated(boolean allow) {
        return new OpenOptions(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare,
                allow, secrets, keyStores);
    }

    /** With the password source of encrypted images. */
    public OpenOptions withSecrets(SecretSource source) {
        return new OpenOptions(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare,
                allowTruncated, source, keyStores);
    }

    /** With the VirtualBox key store of encrypted VDI, VMDK and VHD layers. */
    public OpenOptions withKeyStores(KeyStoreSource source) {
        return new OpenOptions(readOnly, parentDirs, allowAbsoluteParents, ignoreParentUuid, warnings, forceShare,
                allowTruncated, secrets, source);
    }

    /** Whether a file opened with these options may be cut short ({@link #allowTruncated()}, read-only). */
    public boolean zeroTail() {
        return allowTruncated && readOnly;
    }

    public void warn(String message) {
        warnings.accept(message);
    }
}
