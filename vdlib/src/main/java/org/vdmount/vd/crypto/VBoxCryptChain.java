package org.vdmount.vd.crypto;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;

/**
 * Puts VirtualBox's crypto filter under every VDI, VMDK and VHD layer of a chain when the options
 * name a key store ({@link OpenOptions#keyStores()}); a layer of another format is read as it is,
 * with one warning. The password is asked once per distinct key store.
 */
public final class VBoxCryptChain {
    /** The formats VirtualBox's crypto filter is used with. */
    static final Set<String> FORMATS = Set.of("vdi", "vmdk", "vhd");

    private VBoxCryptChain() {
    }

    /**
     * Replaces each layer of {@code chain} by itself under the filter. On failure the layers
     * already replaced stay in the list (the caller closes every entry).
     */
    public static void filter(List<Image> chain, OpenOptions options) throws IOException {
        if (options.keyStores() == KeyStoreSource.NONE) {
            return;
        }
        Map<String, byte[]> deks = new HashMap<>();
        try {
            for (int i = 0; i < chain.size(); i++) {
                Image img = chain.get(i);
                if (!FORMATS.contains(img.format().name())) {
                    options.warn(img.storage().path() + ": the VirtualBox key store does not apply to "
                            + img.format().name() + " images (VirtualBox's crypto filter encrypts vdi, vmdk and vhd); "
                            + "read as it is");
                    continue;
                }
                KeyStoreSource.Located found = options.keyStores().keyStore(img.uuid(), img.storage().path());
                VBoxKeyStore store = VBoxKeyStore.decode(found.base64(), found.where());
                byte[] dek = deks.get(found.base64());
                if (dek == null) {
                    dek = store.unlock(options.secrets().password(img.storage().path().toString()), found.where());
                    deks.put(found.base64(), dek);
                }
                try {
                    chain.set(i, new VBoxCryptImage(img, store.sectorCipher(dek), store.cipher()));
                } catch (GeneralSecurityException e) {
                    throw new VdException(found.where() + ": " + e.getMessage());
                }
            }
        } finally {
            deks.values().forEach(k -> Arrays.fill(k, (byte) 0));
        }
    }
}
