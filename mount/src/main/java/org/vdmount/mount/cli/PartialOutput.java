package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Guards the files of an image being written: unless {@link #commit()} is called they are deleted
 * on {@link #close()}, and also when the JVM is stopped meanwhile (Ctrl-C, SIGTERM), so a failed
 * {@code vd convert} or {@code vd create} leaves no partial output behind.
 */
final class PartialOutput implements AutoCloseable {
    private final Set<Path> files = new LinkedHashSet<>();
    private final Thread hook;
    private volatile boolean committed;

    PartialOutput(Path path, List<Path> imageFiles) {
        files.add(path);
        files.addAll(imageFiles);
        hook = new Thread(this::deleteUnlessCommitted, "vd-partial-output-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    void commit() {
        committed = true;
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or will run; it deletes the same files
        }
        deleteUnlessCommitted();
    }

    private void deleteUnlessCommitted() {
        if (committed) {
            return;
        }
        for (Path f : files) {
            try {
                Files.deleteIfExists(f);
            } catch (IOException e) {
                // best effort: the error that made us clean up is the one reported
            }
        }
    }
}
