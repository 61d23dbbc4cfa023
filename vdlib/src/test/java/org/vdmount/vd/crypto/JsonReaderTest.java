package org.vdmount.vd.crypto;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The bounded JSON parser of LUKS2 metadata: what it takes, and each refusal with its offset. */
class JsonReaderTest {

    @Test
    void readsLuks2ShapedMetadata() throws Exception {
        Object v = JsonReader.parse(" {\"keyslots\":{\"0\":{\"key_size\":64,\"salt\":\"a\\/b\\u0041\"}},"
                + "\"list\":[\"0\", -3, true, false, null], \"empty\":{}, \"none\":[]}\n");
        Map<?, ?> m = (Map<?, ?>) v;
        Map<?, ?> slot = (Map<?, ?>) ((Map<?, ?>) m.get("keyslots")).get("0");
        assertEquals(64L, slot.get("key_size"));
        assertEquals("a/bA", slot.get("salt"));
        assertEquals(java.util.Arrays.asList("0", -3L, true, false, null), m.get("list"));
        assertEquals(Map.of(), m.get("empty"));
        assertEquals(List.of(), m.get("none"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"a\":1,\"a\":2}|7|duplicate key",
        "{\"a\":1.5}|6|only integers",
        "{\"a\":1} x|8|text after",
        "{\"a\":|5|unexpected end",
        "[1 2]|3|expected ']'",
        "\"\\q\"|2|bad escape",
        "{\"a\":99999999999999999999999}|5|bad number",
        "tru|0|unexpected character"})
    void refusesWithOffset(String text, int offset, String what) {
        JsonReader.JsonException e = assertThrows(JsonReader.JsonException.class, () -> JsonReader.parse(text));
        assertEquals(offset, e.offset, e.getMessage());
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }

    @Test
    void nestingIsBounded() {
        String deep = "[".repeat(JsonReader.MAX_DEPTH + 2) + "]".repeat(JsonReader.MAX_DEPTH + 2);
        JsonReader.JsonException e = assertThrows(JsonReader.JsonException.class, () -> JsonReader.parse(deep));
        assertTrue(e.getMessage().contains("nested deeper"), e.getMessage());
        String ok = "[".repeat(JsonReader.MAX_DEPTH) + "]".repeat(JsonReader.MAX_DEPTH);
        assertTrue(assertDoesNotThrow(ok) instanceof List);
    }

    private static Object assertDoesNotThrow(String s) {
        try {
            return JsonReader.parse(s);
        } catch (JsonReader.JsonException e) {
            throw new AssertionError(e.getMessage() + " at " + e.offset);
        }
    }
}
