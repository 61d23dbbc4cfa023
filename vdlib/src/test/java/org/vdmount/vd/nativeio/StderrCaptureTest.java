package org.vdmount.vd.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

/** Descriptor 2 as a pipe this process reads: Java's and child programs' lines held, then passed on. */
@EnabledOnOs(OS.LINUX)
class StderrCaptureTest {
    @Test
    void holdsWhatThisProcessAndItsChildrenWriteUntilTheEnd() throws Exception {
        StderrCapture capture = StderrCapture.begin();
        List<String> lines;
        Process late;
        try {
            // System.err is surefire's own stream here: write to descriptor 2 itself
            PrintStream fd2 = new PrintStream(new FileOutputStream(FileDescriptor.err), true);
            fd2.println("from java");
            // a child inherits descriptor 2 as it is now: the pipe
            Process child = new ProcessBuilder("sh", "-c", "echo 'fuse: from a child' >&2")
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            // one that writes after the end (as a fusermount kept for auto_unmount may)
            late = new ProcessBuilder("sh", "-c", "sleep 0.5; echo 'after the end' >&2")
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        } finally {
            lines = capture.end();
        }
        assertEquals(List.of("from java", "fuse: from a child"), lines);
        assertTrue(late.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, late.exitValue(), "the late writer's line still has a reader (no SIGPIPE)");
        assertFalse(lines.contains("after the end"));
    }
}
