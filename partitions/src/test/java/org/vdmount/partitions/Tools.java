package org.vdmount.partitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Runs the oracle tools (sfdisk, sgdisk, fdisk, mmls, mkfs) and parses their output (tests only). */
final class Tools {
    private Tools() {
    }

    /** One partition as an oracle tool lists it, in the tool's sector units. */
    record OraclePart(int number, long start, long size, String type, String name, String uuid, boolean bootable) {
    }

    /** One mmls line: slot ("000", "001:000" or "Meta"), start, length, description. */
    record MmlsPart(String slot, long start, long length, String description) {
    }

    static boolean has(String tool) {
        for (String dir : List.of("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    static void require(String... tools) {
        for (String t : tools) {
            assumeTrue(has(t), t + " not installed");
        }
    }

    record Result(int exit, String out, String err) {
    }

    static Result exec(String stdin, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("LC_ALL", "C.UTF-8");
        Path out = Files.createTempFile("tool", ".out");
        Path err = Files.createTempFile("tool", ".err");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            try (OutputStream os = p.getOutputStream()) {
                if (stdin != null) {
                    os.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timeout: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    static String run(String stdin, String... cmd) throws IOException, InterruptedException {
        Result r = exec(stdin, cmd);
        assertEquals(0, r.exit(), () -> String.join(" ", cmd) + " failed: " + r.err() + r.out());
        return r.out();
    }

    static Path sparse(Path dir, String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size); // truncate: sparse, nothing written
        }
        return p;
    }

    private static final Pattern FIELD = Pattern.compile("\"(\\w+)\":\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|[\\w.]+)");
    private static final Pattern OBJECT = Pattern.compile("\\{([^{}]*)\\}");
    private static final Pattern NODE_NUMBER = Pattern.compile("(\\d+)$");

    /** The partitions of {@code sfdisk -J} output (numbers from the node names). */
    static List<OraclePart> parseSfdiskJson(String json) {
        List<OraclePart> parts = new ArrayList<>();
        int at = json.indexOf("\"partitions\"");
        if (at < 0) {
            return parts;
        }
        Matcher obj = OBJECT.matcher(json.substring(at));
        while (obj.find()) {
            String node = null;
            String type = "";
            String name = "";
            String uuid = "";
            long start = -1;
            long size = -1;
            boolean bootable = false;
            Matcher f = FIELD.matcher(obj.group(1));
            while (f.find()) {
                String v = f.group(3) != null ? f.group(3) : f.group(2);
                switch (f.group(1)) {
                    case "node" -> node = v;
                    case "start" -> start = Long.parseLong(v);
                    case "size" -> size = Long.parseLong(v);
                    case "type" -> type = v;
                    case "name" -> name = v;
                    case "uuid" -> uuid = v;
                    case "bootable" -> bootable = v.equals("true");
                    case "attrs" -> bootable = v.contains("LegacyBIOSBootable");
                    default -> { }
                }
            }
            Matcher m = NODE_NUMBER.matcher(node);
            if (!m.find()) {
                throw new IllegalStateException("no number in node " + node);
            }
            parts.add(new OraclePart(Integer.parseInt(m.group(1)), start, size, type, name, uuid, bootable));
        }
        return parts;
    }

    private static final Pattern MMLS_LINE =
            Pattern.compile("^\\d+:\\s+(\\S+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(.*)$");

    /** Every line of mmls's table. */
    static List<MmlsPart> parseMmls(String out) {
        List<MmlsPart> parts = new ArrayList<>();
        for (String line : out.split("\n")) {
            Matcher m = MMLS_LINE.matcher(line);
            if (m.matches()) {
                parts.add(new MmlsPart(m.group(1), Long.parseLong(m.group(2)), Long.parseLong(m.group(4)),
                        m.group(5).strip()));
            }
        }
        return parts;
    }

    /** The allocated partitions mmls lists (slot not "Meta" nor "-------"). */
    static List<MmlsPart> mmlsAllocated(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("mmls", "-a"));
        cmd.addAll(List.of(args));
        return parseMmls(run(null, cmd.toArray(String[]::new))).stream()
                .filter(p -> !p.slot().equals("Meta") && !p.slot().startsWith("-")).toList();
    }

    private static final Pattern FDISK_LINE = Pattern.compile("^\\S*?(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)\\s*$");

    /** {@code fdisk -b SS -l -o Device,Start,Sectors,TYPECOL}: number, start, sectors, type. */
    static List<OraclePart> parseFdiskList(String out, Path image) {
        List<OraclePart> parts = new ArrayList<>();
        String prefix = image.toString();
        for (String line : out.split("\n")) {
            if (!line.startsWith(prefix)) {
                continue;
            }
            Matcher m = FDISK_LINE.matcher(line.substring(prefix.length()));
            if (m.matches()) {
                parts.add(new OraclePart(Integer.parseInt(m.group(1)), Long.parseLong(m.group(2)),
                        Long.parseLong(m.group(3)), m.group(4), "", "", false));
            }
        }
        return parts;
    }

    static byte[] readBytes(Path file, long offset, int length) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            byte[] b = new byte[length];
            f.seek(offset);
            f.readFully(b);
            return b;
        }
    }

    static void writeBytes(Path file, long offset, byte[] data) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(offset);
            f.write(data);
        }
    }
}
