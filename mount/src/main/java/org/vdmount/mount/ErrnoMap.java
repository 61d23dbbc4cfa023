package org.vdmount.mount;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import org.vdmount.vd.ChainException;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;

/**
 * THE table that turns an exception thrown inside a request into the errno the caller sees.
 * Range errors never get here: the filesystem clips and answers EINVAL/ENOSPC itself.
 */
public final class ErrnoMap {
    private ErrnoMap() {
    }

    /** The positive errno for a failure inside a request. */
    public static int errno(Throwable e) {
        if (e instanceof ReadOnlyException) {
            return Errno.EROFS;                 // write to an image opened read-only
        } else if (e instanceof UnsupportedFeatureException) {
            return Errno.EOPNOTSUPP;            // the format cannot do what was asked
        } else if (e instanceof CorruptImageException) {
            return Errno.EIO;                   // corrupt or truncated structure met while serving
        } else if (e instanceof ChainException) {
            return Errno.EIO;                   // a layer went missing under us
        } else if (e instanceof AccessDeniedException) {
            return Errno.EACCES;
        } else if (e instanceof NoSuchFileException) {
            return Errno.EIO;                   // an image file vanished: an I/O error for the caller
        } else if (e instanceof ClosedChannelException) {
            return Errno.EIO;                   // request racing with shutdown
        } else if (e instanceof VdException) {
            return Errno.EIO;                   // any other library failure (range bugs included)
        } else if (e instanceof IOException) {
            return Errno.EIO;                   // host I/O error
        } else if (e instanceof IllegalArgumentException || e instanceof IndexOutOfBoundsException) {
            return Errno.EINVAL;                // a request the library rejected as malformed
        }
        return Errno.EIO;                       // bugs: never a dead mount, always an answer
    }

    /** One line describing the failure (no stack trace). */
    public static String describe(Throwable e) {
        String m = e.getMessage();
        String line = e instanceof IOException && m != null ? m : e.toString();
        return VdException.oneLine(line);
    }
}
