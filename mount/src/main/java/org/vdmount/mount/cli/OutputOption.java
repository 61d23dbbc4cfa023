package org.vdmount.mount.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * qemu-img's {@code --output=human|json} beside a verb's own {@code --json}, so a qemu-img command
 * line works unchanged ({@code vd info --output=json}, {@code vd map --output json}).
 */
final class OutputOption {
    /** The renderings qemu-img names. */
    enum Output { human, json }

    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--output", paramLabel = "FMT",
            description = "human (the table, the default) or json (the same as --json), as qemu-img's --output.")
    Output output;

    /** Whether to print JSON: {@code --json} or {@code --output=json}; a usage error when they disagree. */
    boolean json(boolean jsonFlag) {
        if (jsonFlag && output == Output.human) {
            throw new ParameterException(spec.commandLine(), "--json and --output=human contradict each other");
        }
        return jsonFlag || output == Output.json;
    }
}
