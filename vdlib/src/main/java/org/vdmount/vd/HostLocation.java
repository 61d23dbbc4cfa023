package org.vdmount.vd;

import org.vdmount.vd.storage.Storage;

/**
 * Where a guest byte lies on the host: a storage and a byte offset in it ({@link Image#hostLocation}).
 *
 * @param storage    the host storage holding it
 * @param offset     byte offset in {@code storage}
 */
public record HostLocation(Storage storage, long offset) {
}
