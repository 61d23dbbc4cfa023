package org.vdmount.partitions;

import java.io.IOException;
import java.nio.ByteBuffer;

/** The tiny read interface partition parsing needs: a size and positional reads. */
public interface BlockSource {

    long size();

    /** Fills {@code dst} from its position to its limit with the bytes at {@code offset}. */
    void read(long offset, ByteBuffer dst) throws IOException;
}
