package org.vdmount.vd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.vdmount.vd.format.dmg.DmgFormat;
import org.vdmount.vd.format.ewf.EwfFormat;
import org.vdmount.vd.format.parallels.ParallelsFormat;
import org.vdmount.vd.format.luks.LuksFormat;
import org.vdmount.vd.format.qcow.QcowFormat;
import org.vdmount.vd.format.qcow2.Qcow2Format;
import org.vdmount.vd.format.qed.QedFormat;
import org.vdmount.vd.format.raw.RawFormat;
import org.vdmount.vd.format.vdi.VdiFormat;
import org.vdmount.vd.format.vhd.VhdFormat;
import org.vdmount.vd.format.vhdx.VhdxFormat;
import org.vdmount.vd.format.vmdk.VmdkFormat;

/** The one list of format backends, in probe order. Adding a format touches only this list. */
public final class FormatRegistry {

    private static final List<ImageFormat> FORMATS = List.of(
            new VdiFormat(),
            new VhdFormat(),
            new VmdkFormat(),
            new VhdxFormat(),
            new Qcow2Format(),
            new QedFormat(),
            new QcowFormat(),
            new EwfFormat(),
            new ParallelsFormat(),
            new DmgFormat(),
            new LuksFormat(),
            new RawFormat());

    private FormatRegistry() {
    }

    public static List<ImageFormat> all() {
        return FORMATS;
    }

    /** The format called {@code name} or one of its {@link ImageFormat#aliases()} (qemu's "vpc"), any case. */
    public static Optional<ImageFormat> byName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return FORMATS.stream().filter(f -> f.name().equals(n) || f.aliases().contains(n)).findFirst();
    }

    public static ImageFormat require(String name) throws UnsupportedFeatureException {
        return byName(name).orElseThrow(() -> new UnsupportedFeatureException("unknown format '" + name
                + "' (known: " + String.join(", ", FORMATS.stream().map(ImageFormat::name).toList()) + ")"));
    }

    /**
     * The format with the highest probe score: raw if nothing else claims the file, unless the
     * file carries the signature of a container this library cannot read ({@link ForeignSignature});
     * that is refused by name instead of being shown as a disk of container bytes.
     */
    public static ImageFormat probe(Path path) throws IOException {
        ProbeInput in = probeInput(path);
        ImageFormat best = null;
        int bestScore = 0;
        for (ImageFormat f : FORMATS) {
            int s = f.probe(in);
            if (s > bestScore) {
                best = f;
                bestScore = s;
            }
        }
        if (best == null && in.directory()) {
            throw new NotThisFormatException(path + ": is a directory, not a disk image");
        }
        if (best == null) {
            throw new NotThisFormatException(path + ": not a disk image of any known format");
        }
        if (best.name().equals("raw")) {
            Optional<ForeignSignature> foreign = ForeignSignature.find(in);
            if (foreign.isPresent()) {
                throw new UnsupportedFeatureException(path + ": " + foreign.get().what() + " (signature at 0x"
                        + Long.toHexString(foreign.get().fileOffset(in.size())) + "); this format is not supported"
                        + " (give the format as raw to read the file's bytes as a disk anyway)");
            }
        }
        return best;
    }

    /**
     * Opens one layer, probing its format. A file no format claims is opened as raw with one
     * warning, as qemu-img does, unless its name says raw (an extension of raw's, such as .img,
     * .dd or .001): then it is no guess. Naming the format says it was meant.
     */
    public static Image open(Path path, OpenOptions options) throws IOException {
        ImageFormat format = probe(path);
        if (format.name().equals("raw") && !format.extensions().contains(extension(path))) {
            options.warn(path + ": no image format signature found, opened as raw (name the format raw to "
                    + "silence this)");
        }
        return format.open(path, options);
    }

    private static String extension(Path path) {
        String name = path.getFileName() == null ? "" : path.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    static ProbeInput probeInput(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such file");
        }
        if (Files.isDirectory(path)) {
            return new ProbeInput(path, Bytes.allocate(0), Bytes.allocate(0), 0, true);
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(size, ProbeInput.HEAD_SIZE));
            while (head.hasRemaining() && ch.read(head, head.position()) > 0) {
                // keep reading
            }
            head.flip();
            int tailLen = (int) Math.min(size, ProbeInput.TAIL_SIZE);
            ByteBuffer tail = ByteBuffer.allocate(tailLen);
            while (tail.hasRemaining() && ch.read(tail, size - tailLen + tail.position()) > 0) {
                // keep reading
            }
            tail.flip();
            return new ProbeInput(path, Bytes.of(head), Bytes.of(tail), size, false);
        }
    }
}
