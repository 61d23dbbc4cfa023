package org.vdmount.vd.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.vdmount.vd.format.dmg.codec.Adc;
import org.vdmount.vd.format.dmg.codec.Lzfse;

/**
 * Coverage-guided fuzzing of the DMG chunk decoders (Jazzer): the input is one compressed chunk,
 * decoded into a fixed 256 KiB buffer. A decoder may refuse with a one-line IOException or return
 * a length within the buffer; anything else is a finding. {@code mvn test} replays the corpus under
 * {@code CodecFuzzTestInputs/<target>} (chunks made by Apple's reference lzfse encoder and
 * hand-built ADC streams).
 */
class CodecFuzzTest {
    private static final byte[] DST = new byte[256 * 1024];

    @FuzzTest(maxDuration = "10s")
    void adc(byte[] data) {
        FuzzOracle.expect(() -> bounded(Adc.decode(data, 0, data.length, DST, 0, DST.length)));
    }

    @FuzzTest(maxDuration = "10s")
    void lzfse(byte[] data) {
        FuzzOracle.expect(() -> bounded(Lzfse.decode(data, 0, data.length, DST, 0, DST.length)));
    }

    private static void bounded(int n) {
        if (n < 0 || n > DST.length) {
            throw new AssertionError("decoded length " + n + " outside 0.." + DST.length);
        }
    }
}
