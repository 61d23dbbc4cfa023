package org.vdmount.vd.check;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The structural check (and repair) of one format's image file, VirtualBox's VDRepair: found
 * through {@link org.vdmount.vd.ImageFormat#checker()}. It checks the file alone (not its parents)
 * and never drops data it cannot prove unused. A read-only check opens the file read-only.
 */
public interface ImageChecker {

    /**
     * Checks {@code path}; with a repair other than {@link Repair#NONE} fixes what the mode allows
     * and reports what is left (checked again) with the counts of what was fixed. An image too
     * damaged to check is reported as incomplete, not thrown, unless the file cannot be opened.
     */
    CheckReport check(Path path, Repair repair) throws IOException;
}
