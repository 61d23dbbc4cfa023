/**
 * Every native call of vdmount in one place, bound with jnr-ffi: {@link Libc} is the one libc
 * binding (loaded once per process), used by {@link HostFiles} (fallocate, st_blocks),
 * {@link OfdLockFile} (open-file-description byte-range locks, fcntl F_OFD_SETLK/F_OFD_GETLK)
 * and {@link Posix} (uid, setsid, stdio); {@link Zstd} binds the system's libzstd. Nothing else in
 * the project loads a native library, except the FUSE transport of the mount module.
 */
package org.vdmount.vd.nativeio;
