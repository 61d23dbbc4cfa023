package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonTest {

    @Test
    void everyKeyStyleBecomesKebabCase() {
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("block_size", "block-size");
        cases.put("block-size", "block-size");
        cases.put("block size", "block-size");
        cases.put("parentCID", "parent-cid");
        cases.put("createType", "create-type");
        cases.put("parentFileNameHint", "parent-file-name-hint");
        cases.put("CIDFoo", "cid-foo");
        cases.put("l2_entries", "l2-entries");
        cases.put("data_file_raw", "data-file-raw");
        cases.put("uuid", "uuid");
        cases.put("geometry.cylinders", "geometry-cylinders");
        cases.put("log-guid", "log-guid");
        cases.forEach((in, out) -> assertEquals(out, Json.kebab(in), in));
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("extents", List.of(Map.of("fileName", "x-f001.vmdk")));
        nested.put("unknown_value", null);
        assertEquals("{\n  \"extents\": [\n    {\n      \"file-name\": \"x-f001.vmdk\"\n    }\n  ],\n"
                + "  \"unknown-value\": null\n}", Json.write(Json.kebabKeys(nested)));
    }

    @Test
    void escapesEveryAwkwardCharacterAndRoundTrips() {
        StringBuilder all = new StringBuilder();
        for (char c = 0; c < 0x250; c++) {
            all.append(c);
        }
        all.append("\u2028\u2029\ufeff\uffff \ud83d\ude00 lone:\ud800 \udc00");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("all", all.toString());
        m.put("quote\"key\\", "tab\tnl\ncr\r");
        m.put("max", Long.MAX_VALUE);
        m.put("min", Long.MIN_VALUE);
        m.put("int", -7);
        m.put("null", null);
        m.put("yes", true);
        m.put("uuid", new UUID(0x0123456789abcdefL, 0xfedcba9876543210L));
        m.put("empty-map", Map.of());
        m.put("empty-list", List.of());
        m.put("nested", List.of(Map.of("a", List.of(1, 2)), List.of()));
        String json = Json.write(m);

        assertTrue(json.chars().allMatch(c -> c >= 0x20 && c < 0x7f || c == '\n'), "ASCII only: " + json);
        Object back = JsonParser.parse(json);
        Map<String, Object> expected = new LinkedHashMap<>(m);
        expected.put("int", -7L);
        expected.put("uuid", "01234567-89ab-cdef-fedc-ba9876543210");
        expected.put("nested", List.of(Map.of("a", List.of(1L, 2L)), List.of()));
        assertEquals(expected, back);
    }

    @Test
    void nonFiniteNumbersBecomeNull() {
        assertEquals("[\n  null,\n  null,\n  1.5\n]", Json.write(List.of(Double.NaN, Double.POSITIVE_INFINITY, 1.5)));
    }

    @Test
    void randomStringsParseWithPython(@TempDir Path dir) throws Exception {
        Tools.require("python3");
        Random r = new Random(42);
        List<Object> strings = new ArrayList<>();
        for (int n = 0; n < 500; n++) {
            char[] cs = new char[r.nextInt(40)];
            for (int i = 0; i < cs.length; i++) {
                cs[i] = (char) (r.nextInt(4) == 0 ? r.nextInt(0x10000) : r.nextInt(0x80));
            }
            strings.add(new String(cs));
        }
        String json = Json.write(Map.of("strings", strings));
        Path f = dir.resolve("x.json");
        Files.writeString(f, json, StandardCharsets.US_ASCII);
        // python's decoder is the independent oracle: it must load the text and see the same strings
        String script = "import json,sys\n"
                + "d=json.load(open(sys.argv[1]))['strings']\n"
                + "print(sum(len(s.encode('utf-16-le','surrogatepass'))//2 for s in d), len(d))\n";
        String out = Tools.run("python3", "-c", script, f.toString()).trim();
        int chars = strings.stream().mapToInt(s -> ((String) s).length()).sum();
        assertEquals(chars + " " + strings.size(), out);
        assertEquals(Map.of("strings", strings), JsonParser.parse(json));
    }
}
