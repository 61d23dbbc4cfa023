/**
 * What image backends share where the logic really is the same; each format package keeps what is
 * its own.
 *
 * <ul>
 * <li>{@code ImageBase}: the facts every image answers alike (format, storage, sizes, read-only),
 *     the "opened read-only" refusal, flush of a writable image, close.</li>
 * <li>{@code ByteMappedImage}: virtual byte N is file byte N (raw, fixed VHD).</li>
 * <li>{@code ClusterMapImage}: L1 → L2 → cluster images with 64-bit entries and append-only
 *     allocation (QCOW version 1, QED); endianness, zero and compressed entries stay per format.</li>
 * </ul>
 */
package org.vdmount.vd.format.common;
