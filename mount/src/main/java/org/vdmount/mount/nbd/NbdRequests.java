package org.vdmount.mount.nbd;

import static org.vdmount.mount.nbd.NbdProtocol.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.mount.nbd.NbdConnection.Reply;
import org.vdmount.mount.nbd.NbdConnection.Slot;
import org.vdmount.mount.nbd.NbdServer.Export;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;

/**
 * The commands of the transmission phase on one export's disk ("Request types"): READ, WRITE
 * (+FUA), FLUSH, TRIM, WRITE_ZEROES (+NO_HOLE), BLOCK_STATUS over {@code base:allocation}.
 * Range and permission errors are answered with the errno proto.md names for each command.
 */
final class NbdRequests {
    /** Descriptors in one BLOCK_STATUS reply at most; the client asks again for the rest. */
    static final int MAX_EXTENTS = 1024;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1024 * 1024).asReadOnlyBuffer();

    private final Export export;
    private final Disk disk;
    private final boolean allocation;
    private volatile boolean written;

    NbdRequests(Export export, boolean allocation, boolean structured) {
        this.export = export;
        this.disk = export.disk();
        this.allocation = allocation && structured;
    }

    void handle(Slot slot, int flags, int type, long offset, long length, Reply reply) throws IOException {
        int error;
        ByteBuffer payload = null;
        try {
            switch (type) {
                case CMD_READ -> {
                    error = range(offset, length, EINVAL);
                    if (error == 0 && length > MAX_PAYLOAD) {
                        error = (flags & CMD_FLAG_DF) != 0 ? EOVERFLOW : EINVAL;
                    }
                    if (error == 0) {
                        payload = slot.payload((int) length);
                        disk.read(offset, payload);
                        payload.flip();
                    }
                }
                case CMD_WRITE -> {
                    error = writable(offset, length);
                    if (error == 0) {
                        disk.write(offset, slot.data);
                        written = true;
                        fua(flags);
                    }
                }
                case CMD_FLUSH -> {
                    disk.flush();
                    error = 0;
                }
                case CMD_TRIM, CMD_WRITE_ZEROES -> {
                    error = writable(offset, length);
                    if (error == 0 && length > 0) {
                        if (type == CMD_WRITE_ZEROES && (flags & CMD_FLAG_NO_HOLE) != 0) {
                            writeZeros(offset, length);
                        } else {
                            disk.discard(offset, length); // reads zeros afterwards: right for both
                        }
                        written = true;
                        fua(flags);
                    }
                }
                case CMD_BLOCK_STATUS -> {
                    error = !allocation ? EINVAL : length == 0 ? EINVAL : range(offset, length, EINVAL);
                    if (error == 0) {
                        payload = blockStatus(slot, offset, length, (flags & CMD_FLAG_REQ_ONE) != 0);
                    }
                }
                default -> error = EINVAL;
            }
        } catch (ReadOnlyException e) {
            error = EPERM;
        } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
            error = EINVAL;
        } catch (IOException | RuntimeException e) {
            String m = String.valueOf(e.getMessage());
            error = m.contains("No space left") ? ENOSPC : EIO;
        }
        reply.send(error, error == 0 ? payload : null);
    }

    /** After the last request of a connection: what it wrote is flushed. */
    void finish() {
        if (written) {
            try {
                disk.flush();
            } catch (IOException e) {
                // the next flush (or close) of the disk reports it
            }
        }
    }

    private int range(long offset, long length, int error) {
        return offset < 0 || offset > disk.size() || length > disk.size() - offset ? error : 0;
    }

    /** Writes past the end are ENOSPC, writes to a read-only export EPERM (proto.md, "Error values"). */
    private int writable(long offset, long length) {
        if (!export.writable()) {
            return EPERM;
        }
        return range(offset, length, ENOSPC);
    }

    private void fua(int flags) throws IOException {
        if ((flags & CMD_FLAG_FUA) != 0) {
            disk.flush();
        }
    }

    private void writeZeros(long offset, long length) throws IOException {
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(ZEROS.capacity(), length - done);
            ByteBuffer z = ZEROS.duplicate();
            z.limit(n);
            disk.write(offset + done, z);
            done += n;
        }
    }

    /**
     * The chain's allocation from {@code offset}: descriptors of (length, state), neighbours with
     * the same state merged. Data is 0; a range no layer holds, or that reads as zeros by the
     * format's own marking, is HOLE|ZERO (as qemu-nbd reports unallocated and zero clusters).
     */
    private ByteBuffer blockStatus(Slot slot, long offset, long length, boolean one) throws IOException {
        ByteBuffer b = slot.payload(4 + 8 * MAX_EXTENTS);
        b.putInt(1); // the context id given at SET_META_CONTEXT
        long end = offset + length;
        long pos = offset;
        int count = 0;
        long runLength = 0;
        int runState = -1;
        while (pos < end) {
            long run = disk.map(pos, end - pos);
            long len = Math.min(Run.length(run), end - pos);
            int state = Run.kind(run) == Allocation.DATA ? 0 : STATE_HOLE | STATE_ZERO;
            if (state == runState && runLength + len <= 0xffffffffL) {
                runLength += len;
            } else {
                if (runState >= 0) {
                    b.putInt((int) runLength).putInt(runState);
                    if (++count == (one ? 1 : MAX_EXTENTS)) {
                        runState = -1;
                        break;
                    }
                }
                runState = state;
                runLength = len;
            }
            pos += len;
        }
        if (runState >= 0) {
            b.putInt((int) runLength).putInt(runState);
        }
        return b.flip();
    }
}
