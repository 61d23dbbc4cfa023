package org.vdmount.mount;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.HashMap;
import java.util.Map;

/** Linux errno values the filesystem answers with (the FUSE protocol carries them negated). */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EIO = 5;
    public static final int ENXIO = 6;
    public static final int EBADF = 9;
    public static final int EACCES = 13;
    public static final int ENOTDIR = 20;
    public static final int EISDIR = 21;
    public static final int EINVAL = 22;
    public static final int EFBIG = 27;
    public static final int ENOSPC = 28;
    public static final int EROFS = 30;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;

    /** Each constant's name, read from the declarations above so that the list is written once. */
    private static final Map<Integer, String> NAMES = names();

    private Errno() {
    }

    /** The symbolic name, for log lines. */
    public static String name(int errno) {
        return NAMES.getOrDefault(errno, "errno " + errno);
    }

    private static Map<Integer, String> names() {
        Map<Integer, String> names = new HashMap<>();
        for (Field f : Errno.class.getDeclaredFields()) {
            int m = f.getModifiers();
            if (f.getType() == int.class && Modifier.isPublic(m) && Modifier.isStatic(m) && Modifier.isFinal(m)) {
                try {
                    names.put(f.getInt(null), f.getName());
                } catch (IllegalAccessException e) {
                    throw new AssertionError(e); // public fields of this class
                }
            }
        }
        return Map.copyOf(names);
    }
}
