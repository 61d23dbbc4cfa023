package org.vdmount.partitions;

import java.util.concurrent.atomic.AtomicInteger;

/** How many layouts and partitions were compared against each oracle; printed for the report. */
final class OracleCounts {
    static final AtomicInteger SFDISK_TABLES = new AtomicInteger();
    static final AtomicInteger SFDISK_PARTITIONS = new AtomicInteger();
    static final AtomicInteger MMLS_TABLES = new AtomicInteger();
    static final AtomicInteger MMLS_PARTITIONS = new AtomicInteger();

    private OracleCounts() {
    }

    static String summary(String what) {
        return what + ": compared " + SFDISK_TABLES + " tables / " + SFDISK_PARTITIONS
                + " partitions with sfdisk/fdisk, " + MMLS_TABLES + " tables / " + MMLS_PARTITIONS
                + " partitions with mmls (cumulative)";
    }
}
