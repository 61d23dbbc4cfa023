package org.vdmount.vd.crypto;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.UUID;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.vdmount.vd.VdException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;
import org.xml.sax.SAXException;

/**
 * Where the VirtualBox key store of an image comes from. An encrypted VDI, VMDK or VHD cannot be
 * told from its bytes (the filter encrypts only the guest's data, the headers stay as they are):
 * VirtualBox keeps the key store in the VM's {@code .vbox} file, as the medium's property
 * {@code CRYPT/KeyStore}, so the user names it ({@code --keystore FILE.vbox} or
 * {@code --keystore-base64 VALUE}).
 */
@FunctionalInterface
public interface KeyStoreSource {

    /** The key store of the image with {@code uuid} at {@code image}, as its base64 text. */
    Located keyStore(UUID uuid, Path image) throws IOException;

    /** A key store and where it was found (for messages). */
    record Located(String base64, String where) {
    }

    /** No key store: images open unfiltered. */
    KeyStoreSource NONE = (uuid, image) -> null;

    /** The same base64 value for every layer (VirtualBox keys a whole chain with one DEK). */
    static KeyStoreSource base64(String value) {
        return (uuid, image) -> new Located(value, "--keystore-base64");
    }

    /** Largest .vbox file read: VM settings files are kilobytes. */
    long MAX_VBOX_BYTES = 16L << 20;

    /**
     * The {@code CRYPT/KeyStore} of the medium with the image's UUID in the VirtualBox settings
     * file {@code vbox} (its {@code HardDisk} element, or the nearest enclosing one: differencing
     * media are nested inside their parent). DTDs and external entities are refused.
     */
    static KeyStoreSource vboxFile(Path vbox) {
        return (uuid, image) -> {
            if (uuid == null) {
                throw new VdException(image + ": the image records no UUID to find it in " + vbox);
            }
            Document doc = parse(vbox);
            NodeList disks = doc.getElementsByTagName("HardDisk");
            String want = uuid.toString().toLowerCase(Locale.ROOT);
            for (int i = 0; i < disks.getLength(); i++) {
                Element e = (Element) disks.item(i);
                String id = e.getAttribute("uuid").replace("{", "").replace("}", "").toLowerCase(Locale.ROOT);
                if (!id.equals(want)) {
                    continue;
                }
                for (Node n = e; n instanceof Element el && el.getTagName().equals("HardDisk"); n = n.getParentNode()) {
                    String ks = property(el, "CRYPT/KeyStore");
                    if (ks != null) {
                        return new Located(ks, vbox + ": medium {" + el.getAttribute("uuid").replace("{", "")
                                .replace("}", "") + "}: CRYPT/KeyStore");
                    }
                }
                throw new VdException(vbox + ": medium {" + want + "} (" + image + ") has no CRYPT/KeyStore property: "
                        + "it is not encrypted");
            }
            throw new VdException(vbox + ": no medium with UUID {" + want + "} of " + image);
        };
    }

    private static String property(Element disk, String name) {
        for (Node c = disk.getFirstChild(); c != null; c = c.getNextSibling()) {
            if (c instanceof Element p && p.getTagName().equals("Property") && name.equals(p.getAttribute("name"))) {
                return p.getAttribute("value");
            }
        }
        return null;
    }

    private static Document parse(Path vbox) throws IOException {
        long size = Files.size(vbox);
        if (size > MAX_VBOX_BYTES) {
            throw new VdException(vbox + ": " + size + " bytes is too large for a VirtualBox settings file");
        }
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setFeature("http://xml.org/sax/features/external-general-entities", false);
            f.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
            f.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            f.setAttribute(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
            f.setXIncludeAware(false);
            f.setExpandEntityReferences(false);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(new org.xml.sax.helpers.DefaultHandler()); // fatal errors throw, none is printed
            try (InputStream in = Files.newInputStream(vbox)) {
                return b.parse(in);
            }
        } catch (SAXException e) {
            throw new VdException(vbox + ": not a VirtualBox settings file: "
                    + VdException.oneLine(String.valueOf(e.getMessage())));
        } catch (ParserConfigurationException e) {
            throw new VdException(vbox + ": " + e.getMessage());
        }
    }
}
