package org.vdmount.partitions;

/** Partitioning schemes. */
public enum Scheme {
    NONE, MBR, GPT, APM
}
