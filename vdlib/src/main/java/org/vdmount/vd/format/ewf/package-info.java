/**
 * Expert Witness Compression Format version 1 (EnCase 5/6 style E01 sets, as written by
 * libewf's {@code ewfacquire}): read-only. Layouts follow Joachim Metz, "Expert Witness
 * Compression Format (EWF)" (libewf documentation); comments cite its chapters by title.
 *
 * <p>{@link org.vdmount.vd.format.ewf.EwfFormat} is the table; {@code SegmentSet} finds the
 * segment files, {@code SectionWalker} reads each segment's section chain into a
 * {@code ChunkTable}, {@code EwfImage} reads chunks through a {@code ChunkCache}.
 */
package org.vdmount.vd.format.ewf;
