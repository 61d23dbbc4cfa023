package org.vdmount.mount.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.VdException;
import org.vdmount.vd.crypto.KeyStoreSource;
import picocli.CommandLine.Option;

/** How a chain's parents are found: options shared by {@code vdmount} and every {@code vd} command. */
class ChainOptions {

    @Option(names = "--parent-dir", paramLabel = "DIR", description = "where to look for parent images (repeatable)")
    List<Path> parentDirs = new ArrayList<>();

    @Option(names = "--allow-absolute-parents",
            description = "follow absolute parent, backing, extent and data-file paths recorded in images, and "
                    + "symlinks leading out of the allowed directories (default: every such path, resolved with "
                    + "symlinks followed, must stay next to the image or in a --parent-dir)")
    boolean allowAbsoluteParents;

    @Option(names = "--ignore-parent-uuid",
            description = "accept a parent whose UUID/CID does not match what the child records (forensic "
                    + "override; a warning is printed)")
    boolean ignoreParentUuid;

    @Option(names = "--allow-truncated",
            description = "open an image file cut short (a partial copy, a dying drive) read-only: data whose "
                    + "bytes lie past the end of the file reads as zeros, and one warning per file names the "
                    + "missing guest ranges (the header and the tables must be present)")
    boolean allowTruncated;

    @Option(names = "--password-file", paramLabel = "FILE",
            description = "the password of encrypted (LUKS) images: the first line of FILE ('-': standard input); "
                    + "without it, a terminal is asked. Never give a password on the command line")
    Path passwordFile;

    @Option(names = "--keystore", paramLabel = "FILE.vbox",
            description = "VDI, VMDK and VHD images encrypted by VirtualBox: the VM's settings file, whose medium "
                    + "with the image's UUID holds the key store (CRYPT/KeyStore); the password as for "
                    + "--password-file. An encrypted image is not recognised from its bytes without it")
    Path keystore;

    @Option(names = "--keystore-base64", paramLabel = "VALUE",
            description = "the key store of VirtualBox-encrypted images itself (the CRYPT/KeyStore value), for "
                    + "every layer")
    String keystoreBase64;

    /**
     * The key store these options name, or {@link KeyStoreSource#NONE}; both options given: a
     * source that refuses the first image it is asked for.
     */
    KeyStoreSource keyStores() {
        if (keystore != null && keystoreBase64 != null) {
            return (uuid, image) -> {
                throw new VdException("--keystore and --keystore-base64 exclude each other");
            };
        }
        if (keystore != null) {
            return KeyStoreSource.vboxFile(keystore.toAbsolutePath());
        }
        return keystoreBase64 != null ? KeyStoreSource.base64(keystoreBase64) : KeyStoreSource.NONE;
    }
}
