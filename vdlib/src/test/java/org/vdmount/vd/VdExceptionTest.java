package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.vdmount.vd.conformance.DiskBytes;

/** Messages quote untrusted text; they stay one line whatever that text holds. */
class VdExceptionTest {
    @Test
    void controlCharactersAreEscaped() {
        assertEquals("a\\x0ab\\x0dc\\x00d\\x1b[31me\\x7f", VdException.oneLine("a\nb\rc\0d\u001b[31me\u007f"));
        String plain = "vhd: parent of /x/é y.vhd not found; tried C:\\vms\\base.vhd";
        assertSame(plain, VdException.oneLine(plain));
    }

    @Test
    void everySubclassMessageIsOneLine() {
        Path evil = Path.of("/tmp/a\nvdmount: forged line");
        VdException[] all = {
            new VdException("x\ny"), new ChainException("x\ny"), new NotThisFormatException("x\ny"),
            new UnsupportedFeatureException("x\ny"), new ReadOnlyException("x\ny"),
            new CorruptImageException("qcow2", evil, "L1 table", 0x30000, "entry\n9"),
            new TruncatedImageException("vhd", evil, "footer", 0, 512, 100)};
        for (VdException e : all) {
            DiskBytes.assertOneLine(e);
        }
    }
}
