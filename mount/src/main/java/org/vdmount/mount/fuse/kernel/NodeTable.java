package org.vdmount.mount.fuse.kernel;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Node ids for the paths {@link org.vdmount.mount.fuse.FuseOps} speaks in. The tree of a mount
 * never changes, so an id is given once per existing path and kept for the life of the mount
 * (FORGET needs no bookkeeping: an id is never reused). Ids are only handed out for paths whose
 * getattr succeeded, so the table is bounded by the tree's size.
 */
final class NodeTable {
    private final ConcurrentHashMap<String, Long> ids = new ConcurrentHashMap<>();
    private volatile String[] paths = {null, "/"};

    NodeTable() {
        ids.put("/", Protocol.ROOT_ID);
    }

    /** The path of a node id, or null for an id never handed out. */
    String path(long id) {
        String[] p = paths;
        return id > 0 && id < p.length ? p[(int) id] : null;
    }

    /** The id of an existing path, given on first use. */
    long id(String path) {
        Long id = ids.get(path);
        return id != null ? id : assign(path);
    }

    private synchronized long assign(String path) {
        Long id = ids.get(path);
        if (id != null) {
            return id;
        }
        String[] p = Arrays.copyOf(paths, paths.length + 1);
        p[p.length - 1] = path;
        paths = p;
        ids.put(path, (long) (p.length - 1));
        return p.length - 1;
    }

    /** The path of {@code name} inside the directory at {@code dir}. */
    static String child(String dir, String name) {
        return dir.equals("/") ? "/" + name : dir + "/" + name;
    }
}
