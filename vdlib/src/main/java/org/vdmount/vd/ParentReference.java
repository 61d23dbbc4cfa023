package org.vdmount.vd;

import java.util.List;
import java.util.UUID;

/**
 * What a differencing image records about its parent.
 *
 * @param uuid       the parent's identity as recorded by the child (checked against the opened
 *                   parent's {@link Image#linkUuid()}); null if the format records none
 * @param locators   candidate paths as stored in the child (untrusted; may be Windows paths,
 *                   relative or absolute), best first
 * @param formatHint the parent's format name if the child records it, else null (probe)
 */
public record ParentReference(UUID uuid, List<String> locators, String formatHint) {
    public ParentReference {
        locators = List.copyOf(locators);
    }
}
