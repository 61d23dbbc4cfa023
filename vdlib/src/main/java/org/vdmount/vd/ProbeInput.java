package org.vdmount.vd;

import java.nio.file.Path;

/**
 * What a format's probe sees: the start and the end of the file (or nothing for a directory).
 *
 * @param head      the first bytes (up to {@link #HEAD_SIZE}), or an empty view
 * @param tail      the last bytes (up to {@link #TAIL_SIZE}), or an empty view
 * @param size      the file size, 0 for a directory
 * @param directory true for a directory (bundle formats)
 */
public record ProbeInput(Path path, Bytes head, Bytes tail, long size, boolean directory) {
    public static final int HEAD_SIZE = 64 * 1024;
    public static final int TAIL_SIZE = 1024;
}
