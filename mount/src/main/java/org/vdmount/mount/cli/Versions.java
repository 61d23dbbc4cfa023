package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The project version (filtered into {@code version.properties} at build time), for --version. */
public final class Versions implements IVersionProvider {
    private static final String RESOURCE = "/org/vdmount/mount/version.properties";

    @Spec
    CommandSpec spec;

    /** The version of this build, or "unknown" when run from unfiltered classes. */
    public static String version() {
        try (InputStream in = Versions.class.getResourceAsStream(RESOURCE)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version", "");
                if (!v.isEmpty() && !v.startsWith("${")) {
                    return v;
                }
            }
        } catch (IOException e) {
            // fall through
        }
        return "unknown";
    }

    @Override
    public String[] getVersion() {
        String prog = spec != null ? spec.root().name() : "vdmount";
        return new String[] {prog + " " + version()};
    }
}
