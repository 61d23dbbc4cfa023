package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** vd builds picocli's model only of the commands a run names; help and errors still see all. */
class CommandRegistrationTest {
    private static List<String> registered(String... args) {
        return List.copyOf(VdMain.commandLine(new VdMain(System.out, System.err, false), args)
                .getSubcommands().keySet());
    }

    @Test
    void onlyTheNamedCommandsAreBuilt() {
        assertEquals(16, VdMain.commandNames().size(), VdMain.commandNames().toString());
        assertEquals(VdMain.commandNames(), registered(), "no command named: all (vd alone lists them)");
        assertEquals(VdMain.commandNames(), registered("--help"));
        assertEquals(VdMain.commandNames(), registered("-v", "--help", "info"), "top-level help lists all");
        assertEquals(List.of("info"), registered("info", "--json", "x.vdi"));
        assertEquals(List.of("info"), registered("-v", "--parent-dir", "/d", "info", "-h"));
        assertEquals(List.of("info", "convert"), registered("convert", "info", "out.raw"),
                "a file called like a command costs its model only");
        assertEquals(List.of("map"), registered("map", "--", "info"), "nothing after --");
        assertEquals(PackageFiles.vd().getSubcommands().keySet().stream().toList(), VdMain.commandNames(),
                "the man page and completion see every command");
    }

    @Test
    void messagesStillNameEveryCommand() {
        Cli.Result none = Cli.vd();
        assertEquals(2, none.exit());
        assertEquals(List.of("vd: missing command (commands: " + String.join(", ", VdMain.commandNames())
                + ") (see 'vd --help')"), none.errLines());
        Cli.Result unknown = Cli.vd("bogus", "--json");
        assertEquals(2, unknown.exit());
        assertTrue(unknown.err().contains("unknown command 'bogus' (commands: info, convert, create, formats, map, "),
                unknown.err());
        Cli.Result help = Cli.vd("--help");
        assertEquals(0, help.exit());
        for (String c : VdMain.commandNames()) {
            assertTrue(help.out().contains("\n  " + c + " "), c + " in vd --help");
        }
    }
}
