package org.vdmount.vd.format.qcow2;

import java.nio.ByteBuffer;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.nativeio.RawDeflate;
import org.vdmount.vd.nativeio.Zstd;

/**
 * One thread's compressor of qcow2 clusters ({@link Qcow2CompressedWriter#pack}), with its own
 * buffers: compression type 0 as QEMU makes it (raw deflate, 4 KiB window, through the system's
 * zlib, {@link RawDeflate}; {@link WindowedDeflater} where that cannot load), or type 1 (one zstd
 * frame at QEMU's level 3). Like qcow2_co_compress, a result must take at most cluster_size - 1
 * bytes, else the cluster is stored plain. Not thread-safe.
 */
final class ClusterPacker implements AutoCloseable {
    /** ZSTD_CLEVEL_DEFAULT, what QEMU's qcow2 zstd compression uses. */
    private static final int ZSTD_LEVEL = 3;

    private final int cs;
    private final boolean zstd;
    private final ByteBuffer zIn;
    private final ByteBuffer zOut;
    private final byte[] in;
    private final RawDeflate nativeDeflate;
    private final WindowedDeflater fallback;

    ClusterPacker(int clusterSize, boolean zstd) {
        this.cs = clusterSize;
        this.zstd = zstd;
        this.zIn = ByteBuffer.allocateDirect(cs);
        this.zOut = ByteBuffer.allocateDirect(cs);
        this.nativeDeflate = zstd ? null : RawDeflate.open(zIn, zOut);
        this.in = nativeDeflate == null && !zstd ? new byte[cs] : null;
        this.fallback = in != null ? new WindowedDeflater() : null;
    }

    /**
     * Compresses the cluster in {@code data} (position 0, a cluster's bytes) into {@code dst} at
     * {@code off}; returns the length, or -1 when the cluster is to be stored plain.
     */
    int pack(ByteBuffer data, byte[] dst, int off) throws UnsupportedFeatureException {
        ByteBuffer src = data.duplicate().position(0).limit(cs);
        int n;
        if (fallback != null) {
            src.get(in);
            return fallback.deflate(in, cs, dst, off, cs - 1);
        }
        zIn.clear().put(src).clear();
        if (zstd) {
            long z = Zstd.compress(zIn, cs, zOut.clear(), cs - 1, ZSTD_LEVEL, "qcow2: compression_type=zstd");
            n = (int) z;
        } else {
            n = nativeDeflate.compress(cs, cs - 1);
        }
        if (n < 0) {
            return -1;
        }
        zOut.clear().get(dst, off, n);
        return n;
    }

    @Override
    public void close() {
        if (nativeDeflate != null) {
            nativeDeflate.close();
        }
        if (fallback != null) {
            fallback.close();
        }
    }
}
