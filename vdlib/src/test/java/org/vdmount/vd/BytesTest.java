package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HexFormat;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class BytesTest {
    @Test
    void namedByteOrders() {
        Bytes b = Bytes.of(HexFormat.of().parseHex("0102030405060708"));
        assertEquals(0x0201, b.u16le(0));
        assertEquals(0x0102, b.u16be(0));
        assertEquals(0x04030201L, b.u32le(0));
        assertEquals(0x01020304L, b.u32be(0));
        assertEquals(0x0807060504030201L, b.u64le(0));
        assertEquals(0x0102030405060708L, b.u64be(0));
        assertEquals(0x05060708L, b.at(4).u32be(0));
    }

    @Test
    void unsigned32ComesBackPositive() {
        Bytes b = Bytes.allocate(8).put32le(0, 0xFFFFFFFFL).put32be(4, 0xFFFFFFFEL);
        assertEquals(0xFFFFFFFFL, b.u32le(0));
        assertEquals(0xFFFFFFFEL, b.u32be(4));
        assertEquals(-1, b.s32le(0));
    }

    @Test
    void writersRoundTrip() {
        Bytes b = Bytes.allocate(32).put64le(0, 0x1122334455667788L).put64be(8, 0x1122334455667788L);
        assertEquals(0x1122334455667788L, b.u64le(0));
        assertEquals(0x1122334455667788L, b.u64be(8));
        assertEquals(0x88, b.u8(0));
        assertEquals(0x11, b.u8(8));
    }

    @Test
    void microsoftGuidIsMixedEndian() {
        // GPT "EFI system partition" C12A7328-F81F-11D2-BA4B-00A0C93EC93B as stored on disk
        Bytes b = Bytes.of(HexFormat.of().parseHex("28732ac11ff8d211ba4b00a0c93ec93b"));
        UUID esp = UUID.fromString("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assertEquals(esp, b.guid(0));
        Bytes w = Bytes.allocate(16).putGuid(0, esp);
        assertEquals("28732ac11ff8d211ba4b00a0c93ec93b", HexFormat.of().formatHex(w.bytes(0, 16)));
        assertEquals(esp, Bytes.allocate(16).putUuidBe(0, esp).uuidBe(0));
    }

    @Test
    void strings() {
        Bytes b = Bytes.of("ab\0cd".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertEquals("ab", b.asciiz(0, 5));
        Bytes u = Bytes.of("x\0y\0\0\0z\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertEquals("xy", u.utf16le(0, 8));
    }

    @Test
    void sizes() throws Exception {
        assertEquals(10L << 30, Sizes.parse("10G"));
        assertEquals(512L << 10, Sizes.parse("512k"));
        assertEquals(1536L << 10, Sizes.parse("1.5M"));
        assertEquals(123, Sizes.parse("123"));
        assertEquals(1L << 40, Sizes.parse("1TB"));
        assertThrows(UnsupportedFeatureException.class, () -> Sizes.parse("12Q"));
        assertThrows(UnsupportedFeatureException.class, () -> Sizes.parse("-1"));
        assertThrows(UnsupportedFeatureException.class, () -> Sizes.parse("0.3"));
    }
}
