package org.vdmount.vd.conformance;

import java.nio.ByteOrder;
import java.nio.file.Path;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;

/** The declarations every fixture makes, as constructor arguments: the format, its byte order, its parent names. */
public abstract class FixtureBase implements FormatFixture {
    private final ImageFormat format;
    private final ByteOrder byteOrder;
    private final boolean parentByFileName;

    /**
     * @param formatName       the registered format's name
     * @param byteOrder        how it stores multi-byte numbers
     * @param parentByFileName whether it records a parent name as given (qcow2, QED, VMDK: the
     *                         kit gives the parent's file name, relative to the child) rather than
     *                         deriving locators from an absolute path
     */
    protected FixtureBase(String formatName, ByteOrder byteOrder, boolean parentByFileName) {
        this.format = FormatRegistry.byName(formatName)
                .orElseThrow(() -> new IllegalStateException("format " + formatName + " is not registered"));
        this.byteOrder = byteOrder;
        this.parentByFileName = parentByFileName;
    }

    @Override
    public final ImageFormat format() {
        return format;
    }

    @Override
    public final ByteOrder byteOrder() {
        return byteOrder;
    }

    @Override
    public Path parentReference(Path parent) {
        return parentByFileName ? parent.getFileName() : parent;
    }
}
