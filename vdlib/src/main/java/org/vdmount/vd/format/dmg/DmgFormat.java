package org.vdmount.vd.format.dmg;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.StorageScope;

/**
 * Apple Universal Disk Image Format (UDIF, {@code .dmg}): read-only, every chunk type hdiutil
 * writes (UDRO/UDZO/UDBZ/ULMO raw, zlib, bzip2, LZMA; UDCO ADC and ULFO LZFSE through their
 * decoders). Probed by the {@code koly} trailer in the last 512 bytes (signature and its header size 512).
 */
public final class DmgFormat extends DeclaredFormat {

    public DmgFormat() {
        super("dmg", List.of("dmg"), reads(), List.of());
    }

    @Override
    public int probe(ProbeInput in) {
        if (in.directory() || in.size() < KolyTrailer.SIZE) {
            return 0;
        }
        int at = in.tail().size() - KolyTrailer.SIZE;
        return KolyTrailer.hasSignature(in.tail(), at) && in.tail().u32be(at + 8) == KolyTrailer.SIZE ? 100 : 0;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        if (!options.readOnly()) {
            throw new UnsupportedFeatureException("dmg: " + path + ": Apple disk images are read-only (open it read-only)");
        }
        return StorageScope.open(path, options, s -> new DmgImage(this, s, UdifLayout.read(s)));
    }
}
