package org.vdmount.vd.format.common;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.vdmount.vd.storage.FileStorage;

/** Writing a new image file: all of it or nothing (a failed creation removes the file). */
public final class NewImageFile {
    private NewImageFile() {
    }

    /** Writes the content of a new file. */
    public interface Content {
        void write(FileStorage file) throws IOException;
    }

    /**
     * Creates {@code path} (it must not exist), lets {@code content} write it and closes it. If the
     * content fails, the file is closed and deleted and the failure rethrown.
     */
    public static void create(Path path, Content content) throws IOException {
        FileStorage fs = FileStorage.create(path);
        try {
            content.write(fs);
        } catch (IOException | RuntimeException e) {
            fs.close();
            Files.deleteIfExists(path);
            throw e;
        }
        fs.close();
    }
}
