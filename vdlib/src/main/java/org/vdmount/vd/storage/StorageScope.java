package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The one open and create sequence of every format: a storage handed to a parser is closed again
 * if parsing fails (on success the image owns it), and a file being created is deleted again if
 * writing it fails. Formats call these instead of repeating try/close/delete blocks.
 */
public final class StorageScope {
    private StorageScope() {
    }

    /** A step that reads or writes a storage and may fail. */
    @FunctionalInterface
    public interface StorageFunction<S extends Storage, T> {
        T apply(S storage) throws IOException;
    }

    /** A step that writes a new file and may fail. */
    @FunctionalInterface
    public interface StorageWriter {
        void write(FileStorage storage) throws IOException;
    }

    /** Runs {@code body} on {@code storage}; closes the storage if the body fails. */
    public static <S extends Storage, T> T own(S storage, StorageFunction<S, T> body) throws IOException {
        try {
            return body.apply(storage);
        } catch (IOException | RuntimeException | Error e) {
            try {
                storage.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** Opens {@code path} (read-only or for writing) and runs {@code body} on it, as {@link #own}. */
    public static <T> T open(Path path, boolean readOnly, StorageFunction<Storage, T> body) throws IOException {
        return own(FileStorage.open(path, readOnly), body);
    }

    /**
     * Opens {@code path} as the options say (read-only or for writing; a file that may be cut
     * short as a {@link ZeroTailStorage}) and runs {@code body} on it, as {@link #own}.
     */
    public static <T> T open(Path path, org.vdmount.vd.OpenOptions options, StorageFunction<Storage, T> body)
            throws IOException {
        return own(ZeroTailStorage.open(path, options), body);
    }

    /**
     * Creates {@code path} (it must not exist), runs {@code body} on it and returns what the body
     * returns, the storage still open. If the body fails the storage is closed and the file deleted.
     */
    public static <T> T create(Path path, StorageFunction<FileStorage, T> body) throws IOException {
        FileStorage fs = FileStorage.create(path);
        try {
            return own(fs, body);
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Creates {@code path}, lets {@code writer} fill it, forces it to stable storage and closes it;
     * deletes it again if any of that fails.
     */
    public static void write(Path path, StorageWriter writer) throws IOException {
        FileStorage done = create(path, fs -> {
            writer.write(fs);
            fs.force();
            return fs;
        });
        done.close();
    }
}
