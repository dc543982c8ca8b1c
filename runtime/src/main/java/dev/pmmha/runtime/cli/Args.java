package dev.pmmha.runtime.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --name value} and {@code --flag} options of a subcommand, with one-line errors for bad ones. */
final class Args {

  /** A usage error: its message is shown with the command's help. */
  static final class UsageException extends RuntimeException {
    UsageException(String message) {
      super(message);
    }
  }

  private final Map<String, List<String>> values = new HashMap<>();

  static Args parse(String[] argv, int from, Set<String> withValue, Set<String> flags) {
    Args a = new Args();
    for (int i = from; i < argv.length; i++) {
      String arg = argv[i];
      String name = arg;
      String value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        name = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      }
      if (flags.contains(name)) {
        a.values.computeIfAbsent(name, k -> new ArrayList<>()).add("true");
      } else if (withValue.contains(name)) {
        if (value == null) {
          if (i + 1 >= argv.length) {
            throw new UsageException(name + " needs a value");
          }
          value = argv[++i];
        }
        a.values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
      } else {
        throw new UsageException("unknown option " + arg);
      }
    }
    return a;
  }

  boolean has(String name) {
    return values.containsKey(name);
  }

  String get(String name, String fallback) {
    List<String> v = values.get(name);
    return v == null ? fallback : v.get(v.size() - 1);
  }

  List<String> all(String name) {
    return values.getOrDefault(name, List.of());
  }

  static int port(String text, String option) {
    try {
      int p = Integer.parseInt(text.trim());
      if (p >= 1 && p <= 65535) {
        return p;
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw new UsageException(option + " \"" + text + "\" is not a port from 1 to 65535");
  }

  static List<String> peers(String text, String option) {
    List<String> out = new ArrayList<>();
    for (String p : text.split(",")) {
      String host = p.trim();
      int colon = host.lastIndexOf(':');
      if (colon > 0 && host.indexOf(':') == colon) {
        host = host.substring(0, colon); // host:gossipPort in PMM_HA_PEERS: the host is what matters here
      }
      if (host.isEmpty() || !host.matches("[A-Za-z0-9._:%\\[\\]-]+")) {
        throw new UsageException(option + " \"" + text + "\" must be a comma-separated list of hosts");
      }
      if (out.contains(host)) {
        throw new UsageException(option + " \"" + text + "\" lists " + host + " twice");
      }
      out.add(host);
    }
    return out;
  }
}
