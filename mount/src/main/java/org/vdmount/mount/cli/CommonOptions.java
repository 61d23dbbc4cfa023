package org.vdmount.mount.cli;

import picocli.CommandLine.Option;

/**
 * Options every {@code vd} command accepts, before or after the command name: the chain options
 * shared with vdmount, and {@code -v}. vdmount declares its own {@code -v} on purpose: there it
 * means debug logging of the daemon, here status lines of one command.
 */
final class CommonOptions extends ChainOptions {

    @Option(names = {"-v", "--verbose"}, description = "Print status lines and stack traces of errors.")
    boolean verbose;

    @Option(names = {"-U", "--force-share"},
            description = "Open images without taking or checking QEMU-style locks, so an image another "
                    + "program is writing can still be read (it may change while it is read; one warning says so).")
    boolean forceShare;
}
