package org.vdmount.vd.format.qcow2;

import java.util.zip.Deflater;

/**
 * Raw deflate that a 4 KiB-window inflater (QEMU's, windowBits -12) reads, made with Java's
 * Deflater, which cannot be given that window: a full flush every {@link #WINDOW} bytes empties
 * the history, so no match reaches further back. The fallback of {@link Qcow2CompressedWriter}
 * where the system zlib ({@link org.vdmount.vd.nativeio.RawDeflate}) cannot be loaded; its
 * output is a little larger than qemu-img's. Not thread-safe.
 */
final class WindowedDeflater implements AutoCloseable {
    static final int WINDOW = 4096;

    private final Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);

    /**
     * Deflates {@code in[0, length)} into {@code out} at {@code off}; returns the compressed
     * length, or -1 when it takes more than {@code capacity} bytes.
     */
    int deflate(byte[] in, int length, byte[] out, int off, int capacity) {
        deflater.reset();
        int n = 0;
        for (int seg = 0; seg < length; seg += WINDOW) {
            int len = Math.min(WINDOW, length - seg);
            boolean last = seg + len == length;
            deflater.setInput(in, seg, len);
            if (last) {
                deflater.finish();
            }
            while (true) {
                int room = capacity - n;
                if (room == 0) {
                    return -1;
                }
                int got = deflater.deflate(out, off + n, room, last ? Deflater.NO_FLUSH : Deflater.FULL_FLUSH);
                n += got;
                if (last ? deflater.finished() : got < room && deflater.needsInput()) {
                    break;
                }
            }
        }
        return n;
    }

    @Override
    public void close() {
        deflater.end();
    }
}
