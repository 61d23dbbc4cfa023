package org.vdmount.vd.format.vmdk;

/**
 * One extent description line of a descriptor (VMware "Virtual Disk Format 5.0", "Extent
 * Descriptions"): {@code ACCESS SECTORS TYPE ["FILENAME" [OFFSET]]}.
 *
 * @param access        RW, RDONLY or NOACCESS
 * @param sectors       size of the extent in 512-byte sectors
 * @param type          FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, SESPARSE, ... (upper case)
 * @param fileName      the extent file as written (untrusted), null for ZERO
 * @param offsetSectors start of the data in a flat file, 0 if absent
 */
record ExtentLine(Access access, long sectors, String type, String fileName, long offsetSectors) {

    enum Access { RW, RDONLY, NOACCESS }

    String render() {
        StringBuilder sb = new StringBuilder();
        sb.append(access).append(' ').append(sectors).append(' ').append(type);
        if (fileName != null) {
            sb.append(" \"").append(fileName).append('"');
            if (type.equals("FLAT")) {
                sb.append(' ').append(offsetSectors);
            }
        }
        return sb.toString();
    }
}
