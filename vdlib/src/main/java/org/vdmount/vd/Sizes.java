package org.vdmount.vd;

import java.util.Locale;

/** Human sizes: "10G", "512K", "1048576", "1.5M". */
public final class Sizes {
    private Sizes() {
    }

    public static long parse(String text) throws UnsupportedFeatureException {
        String s = text.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("B") && s.length() > 1 && !Character.isDigit(s.charAt(s.length() - 2))) {
            s = s.substring(0, s.length() - 1); // "10GB" -> "10G"
        }
        long mult = 1;
        if (!s.isEmpty()) {
            switch (s.charAt(s.length() - 1)) {
                case 'K' -> mult = 1L << 10;
                case 'M' -> mult = 1L << 20;
                case 'G' -> mult = 1L << 30;
                case 'T' -> mult = 1L << 40;
                case 'P' -> mult = 1L << 50;
                default -> mult = 1;
            }
        }
        String num = mult == 1 ? s : s.substring(0, s.length() - 1);
        try {
            double d = Double.parseDouble(num);
            if (d < 0 || Double.isNaN(d) || d * mult > Long.MAX_VALUE / 2) {
                throw new NumberFormatException();
            }
            long v = (long) (d * mult);
            if (v != d * mult) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new UnsupportedFeatureException("invalid size '" + text + "' (use bytes or a K/M/G/T suffix)");
        }
    }

    public static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
