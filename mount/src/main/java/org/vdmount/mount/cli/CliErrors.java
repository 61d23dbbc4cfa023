package org.vdmount.mount.cli;

import java.io.PrintStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import org.vdmount.vd.VdException;

/**
 * One-line error reporting shared by {@code vd} and {@code vdmount}: {@code prog: message}, with
 * the stack trace only in verbose mode.
 */
public final class CliErrors {
    private CliErrors() {
    }

    /** A one-line, user-facing description of a failure. */
    public static String oneLine(Throwable e) {
        String msg;
        if (e instanceof NoSuchFileException n) {
            msg = n.getFile() + ": no such file or directory";
        } else if (e instanceof AccessDeniedException a) {
            msg = a.getFile() + ": permission denied";
        } else if (e instanceof FileAlreadyExistsException f) {
            msg = f.getFile() + ": already exists";
        } else if (e instanceof VdException || e instanceof java.io.IOException) {
            msg = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        } else {
            msg = "internal error: " + e;
        }
        return VdException.oneLine(msg);
    }

    /** Prints {@code prog: message} (and the stack trace when verbose); returns exit status 1. */
    public static int report(String prog, Throwable e, boolean verbose, PrintStream err) {
        err.println(prog + ": " + oneLine(e));
        if (verbose) {
            e.printStackTrace(err);
        }
        return 1;
    }
}
