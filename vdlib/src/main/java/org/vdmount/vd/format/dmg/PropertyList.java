package org.vdmount.vd.format.dmg;

import java.io.ByteArrayInputStream;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.xml.XMLConstants;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;

/**
 * An XML property list (Apple's plist DTD 1.0) read into plain values: {@code dict} →
 * {@code Map<String, Object>}, {@code array} → {@code List<Object>}, {@code data} → {@code byte[]}
 * (base64), every other scalar ({@code string}, {@code integer}, {@code real}, {@code date},
 * {@code true}, {@code false}) → its text. The document type is never loaded and no entity outside
 * the file is resolved (the parser runs with DTDs and external entities off); nesting is bounded.
 * The text must be UTF-8 (as Apple writes it), decoded strictly before parsing.
 */
final class PropertyList {
    static final int MAX_DEPTH = 64;

    /** Why a property list cannot be read; the message says what and where (line:column). */
    static final class PlistException extends Exception {
        private static final long serialVersionUID = 1L;

        PlistException(String message) {
            super(message);
        }
    }

    private final XMLStreamReader in;

    private PropertyList(XMLStreamReader in) {
        this.in = in;
    }

    /** The top value of the {@code <plist>} document in {@code xml}. */
    static Object parse(byte[] xml) throws PlistException {
        XMLInputFactory f = XMLInputFactory.newFactory();
        f.setProperty(XMLInputFactory.SUPPORT_DTD, false);
        f.setProperty(XMLInputFactory.IS_SUPPORTING_EXTERNAL_ENTITIES, false);
        f.setProperty(XMLConstants.ACCESS_EXTERNAL_DTD, "");
        f.setXMLResolver((publicId, systemId, base, ns) -> new ByteArrayInputStream(new byte[0]));
        String text;
        try {
            // decoded here, strictly: the parser would print its own encoding errors to stderr
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(xml)).toString();
        } catch (CharacterCodingException e) {
            throw new PlistException("not UTF-8 text: " + e.getMessage());
        }
        f.setXMLReporter((message, type, info, location) -> { });
        try {
            XMLStreamReader r = f.createXMLStreamReader(new StringReader(text));
            try {
                PropertyList p = new PropertyList(r);
                p.nextStart();
                if (!r.getLocalName().equals("plist")) {
                    throw p.error("root element <" + r.getLocalName() + ">, expected <plist>");
                }
                p.nextStart();
                return p.value(1);
            } finally {
                r.close();
            }
        } catch (XMLStreamException | RuntimeException e) {
            throw new PlistException("not well-formed XML: " + oneLine(e.getMessage()));
        }
    }

    private static String oneLine(String s) {
        return s == null ? "(no detail)" : s.replaceAll("\\s+", " ").trim();
    }

    /** The value whose start tag the reader is on; leaves it on that element's end tag. */
    private Object value(int depth) throws XMLStreamException, PlistException {
        if (depth > MAX_DEPTH) {
            throw error("nesting deeper than " + MAX_DEPTH);
        }
        String tag = in.getLocalName();
        switch (tag) {
            case "dict" -> {
                Map<String, Object> m = new LinkedHashMap<>();
                while (nextStartOrEnd()) {
                    if (!in.getLocalName().equals("key")) {
                        throw error("<" + in.getLocalName() + "> where a <key> belongs");
                    }
                    String key = in.getElementText();
                    if (!nextStartOrEnd()) {
                        throw error("key '" + key + "' has no value");
                    }
                    m.put(key, value(depth + 1));
                }
                return m;
            }
            case "array" -> {
                List<Object> l = new ArrayList<>();
                while (nextStartOrEnd()) {
                    l.add(value(depth + 1));
                }
                return l;
            }
            case "data" -> {
                String text = in.getElementText();
                try {
                    return Base64.getMimeDecoder().decode(text.replaceAll("\\s+", ""));
                } catch (IllegalArgumentException e) {
                    throw error("<data> is not base64: " + e.getMessage());
                }
            }
            case "true", "false" -> {
                in.getElementText();
                return tag;
            }
            case "string", "integer", "real", "date" -> {
                return in.getElementText();
            }
            default -> throw error("unknown element <" + tag + ">");
        }
    }

    /** Moves to the next start tag (true) or the enclosing end tag (false), skipping text and comments. */
    private boolean nextStartOrEnd() throws XMLStreamException {
        while (true) {
            int e = in.next();
            if (e == XMLStreamConstants.START_ELEMENT) {
                return true;
            }
            if (e == XMLStreamConstants.END_ELEMENT) {
                return false;
            }
            if (e == XMLStreamConstants.END_DOCUMENT) {
                throw new XMLStreamException("document ends inside an element");
            }
        }
    }

    private void nextStart() throws XMLStreamException, PlistException {
        if (!nextStartOrEnd()) {
            throw error("empty element where a value belongs");
        }
    }

    private PlistException error(String detail) {
        var l = in.getLocation();
        return new PlistException(detail + (l == null ? "" : " (line " + l.getLineNumber() + ", column "
                + l.getColumnNumber() + ")"));
    }
}
