/**
 * {@code vd compact} (VirtualBox's VDCompact, {@code VBoxManage modifymedium --compact}): a format's
 * {@link org.vdmount.vd.compact.ImageCompactor} frees the blocks of an image that hold nothing the
 * chain needs (all zeros in a base image, the parent's own contents in a differencing one), moves
 * the blocks left at the end of the file into the holes and cuts the file. {@link
 * org.vdmount.vd.compact.Compaction} opens the image and its chain and runs it.
 */
package org.vdmount.vd.compact;
