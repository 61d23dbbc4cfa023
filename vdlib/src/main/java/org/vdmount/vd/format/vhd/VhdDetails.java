package org.vdmount.vd.format.vhd;

import java.util.LinkedHashMap;
import java.util.Map;

/** Facts for {@code vd info}. */
final class VhdDetails {
    private VhdDetails() {
    }

    static Map<String, Object> of(VhdLayout l) {
        VhdFooter f = l.footer();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("creator", f.creatorApp().replace('\0', ' ').trim() + " " + (f.creatorVersion() >>> 16) + "."
                + (f.creatorVersion() & 0xFFFF) + " (" + f.creatorOs().replace('\0', ' ').trim() + ")");
        m.put("geometry", f.cylinders() + "/" + f.heads() + "/" + f.sectorsPerTrack());
        m.put("current size", f.currentSizeBytes());
        m.put("footer offset", l.footerOffset());
        if (l.header() != null) {
            m.put("block size", l.header().blockSizeBytes());
            m.put("bat entries", l.header().maxTableEntries());
        }
        if (l.parent() != null) {
            m.put("parent name", l.header().parentName());
            m.put("parent locators", l.parent().locators());
        }
        return m;
    }
}
