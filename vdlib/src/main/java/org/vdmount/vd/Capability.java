package org.vdmount.vd;

/**
 * What a format can do, declared as data in {@link ImageFormat#capabilities()} (nbdkit's
 * {@code can_*} answers, VirtualBox's {@code uBackendCaps}). Callers ask before they call: a verb
 * whose capability is absent is never called, and the {@link Disk} emulates what it can
 * (zeros written where a format cannot discard).
 */
public enum Capability {
    /** Images open and read. Every format has it. */
    READ("read"),
    /** Some variants open writable: {@link Image#write}, {@link Image#flush}. */
    WRITE("write"),
    /** {@link ImageFormat#create} makes new (dynamic / sparse) images. */
    CREATE("create"),
    /** {@link ImageFormat#create} can also make fully allocated images (an option says how). */
    CREATE_FIXED("create-fixed"),
    /** Images record a parent: differencing / backing-file images, created with a parent. */
    DIFFERENCING("differencing"),
    /** Internal snapshots that {@link ImageFormat#openSnapshot} opens. */
    INTERNAL_SNAPSHOTS("snapshots"),
    /** {@link Image#discard} frees whole blocks (the host file gets holes or slots back). */
    DISCARD("discard"),
    /** Blocks can be recorded as "reads as zeros" without data, hiding the parent's bytes. */
    ZERO_BLOCKS("zero-blocks"),
    /** A writable open repairs what a crash left (journal replay, dirty refcounts, need-check). */
    REPAIR_ON_OPEN("repair-on-open"),
    /**
     * {@link ImageFormat#resize} changes the virtual size of an image opened writable (vd resize):
     * grows it, and shrinks it where nothing allocated lies past the new end.
     */
    RESIZE("resize"),
    /** One image may span several host files ({@link Image#files()}: extents, split parts). */
    MULTI_FILE("multi-file");

    private final String label;

    Capability(String label) {
        this.label = label;
    }

    /** The name shown to users ({@code vd formats}). */
    public String label() {
        return label;
    }
}
