package org.vdmount.vd.format.vmdk;

import java.nio.ByteBuffer;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.VdException;
import org.vdmount.vd.WriteResult;

/**
 * A ZERO extent (reads as zeros, hides any parent), or a NOACCESS extent (every access fails): both
 * have no file.
 */
final class ZeroExtent extends ExtentBase {
    private final String noAccessWhy; // null for ZERO

    ZeroExtent(long sizeBytes, String noAccessWhy) {
        super(null, sizeBytes, 0);
        this.noAccessWhy = noAccessWhy;
    }

    @Override
    public long map(long offset, long maxLength) throws VdException {
        if (noAccessWhy != null) {
            throw new VdException(noAccessWhy);
        }
        return Run.zero(maxLength);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws VdException {
        throw new VdException(noAccessWhy != null ? noAccessWhy : "vmdk: read of a ZERO extent as data");
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws VdException {
        throw new ReadOnlyException(noAccessWhy != null ? noAccessWhy : "vmdk: a ZERO extent cannot be written");
    }

    @Override
    public void discard(long offset, long length, boolean hideParent) throws VdException {
        if (noAccessWhy != null) {
            throw new VdException(noAccessWhy);
        }
    }

    @Override
    public String kind() {
        return noAccessWhy != null ? "NOACCESS" : "ZERO";
    }
}
