package org.vdmount.mount.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * What every {@code vd} command has: -h/-V, the {@code vd} it runs under (streams, warnings, open
 * options), its own spec for usage errors, and the common options.
 */
@Command(mixinStandardHelpOptions = true, versionProvider = Versions.class)
abstract class VdCommand implements Callable<Integer> {

    @ParentCommand
    VdMain vd;

    @Spec
    CommandSpec spec;

    @Mixin
    CommonOptions common;
}
