package org.vdmount.vd.format.qcow2;

import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.nativeio.Zstd;

/**
 * Per-thread buffers and decoder for compressed clusters (qcow2.txt "Compressed Clusters
 * Descriptor"): raw deflate (no zlib header, as QEMU writes it) or zstd. Keeps the last cluster
 * it produced so small sequential reads of one compressed cluster decompress it once.
 */
final class ClusterDecompressor {
    final ByteBuffer input;   // direct, 2 clusters + 512 (the largest compressed extent)
    final ByteBuffer output;  // direct, one cluster
    private final Inflater inflater = new Inflater(true);
    /** The descriptor whose cluster {@link #output} holds, or -1. */
    long cachedDescriptor = -1;
    /** The image generation the cached cluster belongs to (bumped whenever clusters are freed). */
    long cachedGeneration = -1;

    ClusterDecompressor(int clusterSize) {
        this.input = ByteBuffer.allocateDirect(clusterSize * 2 + 512);
        this.output = ByteBuffer.allocateDirect(clusterSize);
    }

    /**
     * Decompresses {@code input[0, len)} into a full cluster in {@link #output}; returns false if
     * the data is corrupt (too short, invalid, or not exactly one cluster).
     */
    boolean decompress(int len, int clusterSize, boolean zstd) throws UnsupportedFeatureException {
        input.clear().limit(len);
        output.clear();
        if (zstd) {
            long n = Zstd.decompress(input, len, output, clusterSize, "qcow2: zstd-compressed clusters");
            output.clear();
            return n == clusterSize;
        }
        inflater.reset();
        inflater.setInput(input);
        try {
            while (output.hasRemaining()) {
                int n = inflater.inflate(output);
                if (n == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
            }
        } catch (DataFormatException e) {
            return false;
        }
        boolean full = !output.hasRemaining();
        output.clear();
        return full;
    }
}
