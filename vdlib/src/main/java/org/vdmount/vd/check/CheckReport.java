package org.vdmount.vd.check;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What a check found, in {@code qemu-img check}'s terms: corruptions and leaks (still present
 * after any repair), how many of each the repair fixed, whether the check could complete, and the
 * allocation statistics a format knows ({@code -1} where it has none).
 */
public final class CheckReport {
    /** Findings kept for printing; counts go on past it. */
    static final int MAX_FINDINGS = 1000;

    private final List<Finding> findings = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private long corruptions;
    private long leaks;
    private long corruptionsFixed;
    private long leaksFixed;
    private String incomplete;
    private long totalClusters = -1;
    private long allocatedClusters = -1;
    private long fragmentedClusters = -1;
    private long compressedClusters = -1;
    private long imageEndOffset = -1;

    /** Records a finding (and counts it). */
    public void add(Finding f) {
        if (f.kind() == Finding.Kind.CORRUPTION) {
            corruptions++;
        } else {
            leaks++;
        }
        if (findings.size() < MAX_FINDINGS) {
            findings.add(f);
        }
    }

    public void corruption(String structure, long offset, String message) {
        add(new Finding(Finding.Kind.CORRUPTION, structure, offset, message));
    }

    public void leak(String structure, long offset, String message) {
        add(new Finding(Finding.Kind.LEAK, structure, offset, message));
    }

    /** A fact worth telling that is no inconsistency (dirty flag, a repair that was not made). */
    public void note(String message) {
        notes.add(message);
    }

    /** The check could not complete (it stopped at {@code why}). */
    public void incomplete(String why) {
        incomplete = why;
    }

    /** Carries the repairs over from the report taken before a repair: {@code before} minus now. */
    public void repairedFrom(CheckReport before) {
        corruptionsFixed = Math.max(0, before.corruptions - corruptions);
        leaksFixed = Math.max(0, before.leaks - leaks);
        List<String> all = new ArrayList<>(before.notes);
        all.addAll(notes);
        notes.clear();
        notes.addAll(all);
    }

    public void statistics(long total, long allocated, long fragmented, long compressed, long endOffset) {
        totalClusters = total;
        allocatedClusters = allocated;
        fragmentedClusters = fragmented;
        compressedClusters = compressed;
        imageEndOffset = endOffset;
    }

    public List<Finding> findings() {
        return Collections.unmodifiableList(findings);
    }

    public List<String> notes() {
        return Collections.unmodifiableList(notes);
    }

    public long corruptions() {
        return corruptions;
    }

    public long leaks() {
        return leaks;
    }

    public long corruptionsFixed() {
        return corruptionsFixed;
    }

    public long leaksFixed() {
        return leaksFixed;
    }

    /** Why the check could not complete, or null if it did. */
    public String incompleteReason() {
        return incomplete;
    }

    public long totalClusters() {
        return totalClusters;
    }

    public long allocatedClusters() {
        return allocatedClusters;
    }

    public long fragmentedClusters() {
        return fragmentedClusters;
    }

    public long compressedClusters() {
        return compressedClusters;
    }

    public long imageEndOffset() {
        return imageEndOffset;
    }

    /** {@code qemu-img check}'s exit status: 1 incomplete, 2 corruptions, 3 leaks only, 0 clean. */
    public int exitStatus() {
        if (incomplete != null) {
            return 1;
        }
        if (corruptions > 0) {
            return 2;
        }
        return leaks > 0 ? 3 : 0;
    }
}
