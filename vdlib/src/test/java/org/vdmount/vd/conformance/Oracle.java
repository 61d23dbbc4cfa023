package org.vdmount.vd.conformance;

/**
 * Who checks an image from outside: an independent implementation of the format reads what the
 * kit wrote (and checks the structures, where it can) and must see the model's bytes.
 *
 * @param kind   which tool
 * @param driver QEMU's name for the format ("vpc" for VHD), for {@link Kind#QEMU}
 * @param check  whether {@code qemu-img check} supports the format (else only compare)
 * @param reason why there is no oracle, for {@link Kind#NONE}
 */
public record Oracle(Kind kind, String driver, boolean check, String reason) {

    /** The independent readers the kit knows. */
    public enum Kind {
        /** {@code qemu-img check} on every layer, then {@code qemu-img compare} of the top with the model. */
        QEMU,
        /** libvhdi's {@code vhdimount} (VHD and VHDX, differencing chains included). */
        LIBVHDI,
        /** Nobody can check this image; the reason says why. */
        NONE
    }

    /** qemu-img check and compare with QEMU's driver {@code driver}. */
    public static Oracle qemu(String driver) {
        return new Oracle(Kind.QEMU, driver, true, null);
    }

    /** qemu-img compare only: QEMU's driver has no check ({@code reason} names it). */
    public static Oracle qemuCompareOnly(String driver, String reason) {
        return new Oracle(Kind.QEMU, driver, false, reason);
    }

    public static Oracle vhdimount() {
        return new Oracle(Kind.LIBVHDI, null, false, null);
    }

    public static Oracle none(String reason) {
        return new Oracle(Kind.NONE, null, false, reason);
    }

    @Override
    public String toString() {
        return switch (kind) {
            case QEMU -> "qemu-img " + (check ? "check+compare" : "compare") + " -f " + driver;
            case LIBVHDI -> "vhdimount";
            case NONE -> "none: " + reason;
        };
    }
}
