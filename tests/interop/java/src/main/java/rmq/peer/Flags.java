package rmq.peer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Command-line flags in the style of Go's {@code flag} package, as the Go peer uses them:
 * {@code -flag} or {@code --flag}, values as {@code --flag v} or {@code --flag=v}, boolean
 * flags without a value (or {@code --flag=true|false}), {@code --} ends the flags. Errors
 * print a {@code {"type":"error","stage":"flags"}} line and exit 2; {@code -h} prints the
 * flags on stderr and exits 0.
 */
final class Flags {
    private static final class Spec {
        final String name;
        final String def;
        final String help;
        final boolean bool;
        final boolean repeated;
        final List<String> values = new ArrayList<>();

        Spec(String name, String def, String help, boolean bool, boolean repeated) {
            this.name = name;
            this.def = def;
            this.help = help;
            this.bool = bool;
            this.repeated = repeated;
        }
    }

    private final String command;
    private final Map<String, Spec> specs = new LinkedHashMap<>();

    Flags(String command) {
        this.command = command;
    }

    /** A flag with a value; {@code def} may be null (no default). */
    Flags value(String name, String def, String help) {
        specs.put(name, new Spec(name, def, help, false, false));
        return this;
    }

    Flags bool(String name, String help) {
        specs.put(name, new Spec(name, "false", help, true, false));
        return this;
    }

    /** A flag that may be given several times. */
    Flags repeated(String name, String help) {
        specs.put(name, new Spec(name, null, help, false, true));
        return this;
    }

    void parse(String[] args) {
        int i = 0;
        while (i < args.length) {
            String a = args[i];
            if (a.equals("--")) {
                i++;
                break;
            }
            if (!a.startsWith("-") || a.equals("-")) {
                break;
            }
            String body = a.startsWith("--") ? a.substring(2) : a.substring(1);
            if (body.isEmpty() || body.startsWith("-") || body.startsWith("=")) {
                JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "bad flag syntax: " + a);
            }
            String name = body;
            String val = null;
            int eq = body.indexOf('=');
            if (eq >= 0) {
                name = body.substring(0, eq);
                val = body.substring(eq + 1);
            }
            if (name.equals("h") || name.equals("help")) {
                usage();
                JavaPeer.exit(JavaPeer.EXIT_OK);
            }
            Spec s = specs.get(name);
            if (s == null) {
                usage();
                JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "flag provided but not defined: -" + name);
            }
            i++;
            if (s.bool) {
                if (val == null) {
                    val = "true";
                } else if (!val.equals("true") && !val.equals("false")
                        && !val.equals("1") && !val.equals("0")) {
                    JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags",
                            "invalid boolean value \"" + val + "\" for -" + name);
                }
                val = String.valueOf(val.equals("true") || val.equals("1"));
            } else if (val == null) {
                if (i >= args.length) {
                    JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "flag needs an argument: -" + name);
                }
                val = args[i++];
            }
            if (!s.repeated) {
                s.values.clear();
            }
            s.values.add(val);
        }
        if (i < args.length) {
            List<String> rest = new ArrayList<>();
            for (int j = i; j < args.length; j++) {
                rest.add(args[j]);
            }
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags", "unexpected arguments: " + rest);
        }
    }

    private Spec spec(String name) {
        Spec s = specs.get(name);
        if (s == null) {
            throw new IllegalArgumentException("undeclared flag " + name);
        }
        return s;
    }

    String str(String name) {
        Spec s = spec(name);
        return s.values.isEmpty() ? s.def : s.values.get(s.values.size() - 1);
    }

    boolean isSet(String name) {
        return !spec(name).values.isEmpty();
    }

    List<String> all(String name) {
        return List.copyOf(spec(name).values);
    }

    boolean bool(String name) {
        return Boolean.parseBoolean(str(name));
    }

    int integer(String name) {
        String v = str(name);
        try {
            return Integer.parseInt(v.trim());
        } catch (RuntimeException e) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags",
                    "invalid value \"" + v + "\" for flag -" + name + ": not an integer");
            throw e;
        }
    }

    long longValue(String name) {
        String v = str(name);
        try {
            return Long.parseLong(v.trim());
        } catch (RuntimeException e) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags",
                    "invalid value \"" + v + "\" for flag -" + name + ": not an integer");
            throw e;
        }
    }

    double number(String name) {
        String v = str(name);
        try {
            return Double.parseDouble(v.trim());
        } catch (RuntimeException e) {
            JavaPeer.fail(JavaPeer.EXIT_USAGE, "flags",
                    "invalid value \"" + v + "\" for flag -" + name + ": not a number");
            throw e;
        }
    }

    void usage() {
        StringBuilder sb = new StringBuilder("usage: rmq-java-peer " + command + " [flags]\n");
        for (Spec s : specs.values()) {
            sb.append("  --").append(s.name);
            if (!s.bool) {
                sb.append(" value");
            }
            sb.append("\n    \t").append(s.help);
            if (s.def != null && !s.bool && !s.def.isEmpty()) {
                sb.append(" (default ").append(s.def).append(')');
            }
            sb.append('\n');
        }
        System.err.print(sb);
        System.err.flush();
    }
}
