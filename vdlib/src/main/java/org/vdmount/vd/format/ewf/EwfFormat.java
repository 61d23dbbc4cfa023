package org.vdmount.vd.format.ewf;

import static org.vdmount.vd.Capability.MULTI_FILE;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.SplitStorage;
import org.vdmount.vd.storage.StorageScope;

/**
 * Expert Witness Compression Format version 1 (E01, EnCase 5/6 style): read-only. A set is opened
 * by its first segment {@code x.E01}; the segments after it are found by name. EWF2 (Ex01) and
 * logical evidence (L01) files are refused by {@link org.vdmount.vd.ForeignSignature}.
 */
public final class EwfFormat extends DeclaredFormat {

    public EwfFormat() {
        super("ewf", List.of("e01"), reads(MULTI_FILE), List.of());
    }

    @Override
    public int probe(ProbeInput in) {
        return !in.directory() && FileHeader.hasSignature(in.head()) ? 100 : 0;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        if (!options.readOnly()) {
            throw new UnsupportedFeatureException("ewf: " + path + ": E01 sets are read-only (open it read-only)");
        }
        List<Path> candidates = SegmentSet.candidates(path, options);
        SplitStorage first = SplitStorage.open(candidates, true);
        SectionWalker.Layout layout = StorageScope.own(first, s -> {
            if (s.size() < FileHeader.SIZE || !FileHeader.hasSignature(s.readPrefix(FileHeader.SIZE))) {
                throw new NotThisFormatException("ewf: " + path + ": no EWF signature (EVF 09 0d 0a ff 00)");
            }
            return SectionWalker.walk(s, options);
        });
        if (layout.segments() == candidates.size()) {
            return new EwfImage(this, first, layout);
        }
        // a "done" section ended the set before the last file found by name: use only the set's own files
        first.close();
        SplitStorage used = SplitStorage.open(candidates.subList(0, layout.segments()), true);
        return StorageScope.own(used, s -> new EwfImage(this, s, SectionWalker.walk(s, options)));
    }
}
