package org.vdmount.vd;

import java.util.List;
import java.util.Locale;

/**
 * One {@code -o KEY=VALUE} option a format takes when creating an image (QEMU's
 * {@code create_opts}, VirtualBox's {@code paConfigInfo}). A format lists them in
 * {@link ImageFormat#createOptions()}; validation ({@link CreateOptions#validate}) and
 * {@code vd create -f F -o help} both come from that one table.
 *
 * @param name         the key
 * @param kind         how the value is parsed
 * @param defaultValue the value when absent, as a user would write it; null when it depends on
 *                     other choices (the help says how)
 * @param choices      the allowed values of a {@link Kind#CHOICE}, else empty
 * @param help         one line
 */
public record CreateOption(String name, Kind kind, String defaultValue, List<String> choices, String help) {

    /** How a value is written and parsed. */
    public enum Kind {
        /** Bytes, with an optional K/M/G/T suffix (powers of 1024). */
        SIZE("size"),
        /** A decimal integer. */
        NUMBER("number"),
        /** on/off (also true/false, yes/no, 1/0). */
        FLAG("on|off"),
        /** One of {@link CreateOption#choices()}, case-insensitive. */
        CHOICE("choice"),
        /** Free text. */
        TEXT("text");

        private final String placeholder;

        Kind(String placeholder) {
            this.placeholder = placeholder;
        }

        public String placeholder() {
            return placeholder;
        }
    }

    public CreateOption {
        choices = List.copyOf(choices);
    }

    public static CreateOption size(String name, String dflt, String help) {
        return new CreateOption(name, Kind.SIZE, dflt, List.of(), help);
    }

    public static CreateOption number(String name, String dflt, String help) {
        return new CreateOption(name, Kind.NUMBER, dflt, List.of(), help);
    }

    public static CreateOption flag(String name, String help) {
        return new CreateOption(name, Kind.FLAG, "off", List.of(), help);
    }

    public static CreateOption choice(String name, String dflt, String help, String... choices) {
        return new CreateOption(name, Kind.CHOICE, dflt, List.of(choices), help);
    }

    public static CreateOption text(String name, String dflt, String help) {
        return new CreateOption(name, Kind.TEXT, dflt, List.of(), help);
    }

    /** How the value is written in help: {@code <size>}, {@code dynamic|fixed}, ... */
    public String placeholder() {
        return kind == Kind.CHOICE ? String.join("|", choices) : "<" + kind.placeholder() + ">";
    }

    /**
     * The value in its canonical spelling (a choice as listed, a flag as on/off), or an
     * {@link UnsupportedFeatureException} naming the format, the key, the value and what is allowed.
     */
    public String check(String format, String value) throws UnsupportedFeatureException {
        switch (kind) {
            case SIZE -> {
                try {
                    Sizes.parse(value);
                } catch (UnsupportedFeatureException e) {
                    throw new UnsupportedFeatureException(format + ": " + name + " must be a size (like 64K), not '"
                            + value + "'");
                }
                return value;
            }
            case NUMBER -> {
                try {
                    Long.parseLong(value.strip());
                } catch (NumberFormatException e) {
                    throw new UnsupportedFeatureException(format + ": " + name + " must be a number, not '" + value
                            + "'");
                }
                return value.strip();
            }
            case FLAG -> {
                return switch (value.toLowerCase(Locale.ROOT)) {
                    case "on", "true", "yes", "1" -> "on";
                    case "off", "false", "no", "0" -> "off";
                    default -> throw new UnsupportedFeatureException(format + ": " + name + " must be on or off, not '"
                            + value + "'");
                };
            }
            case CHOICE -> {
                for (String c : choices) {
                    if (c.equalsIgnoreCase(value)) {
                        return c;
                    }
                }
                throw new UnsupportedFeatureException(format + ": " + name + " must be "
                        + (choices.size() == 2 ? choices.get(0) + " or " + choices.get(1) : "one of "
                        + String.join(", ", choices)) + ", not '" + value + "'");
            }
            default -> {
                return value;
            }
        }
    }
}
