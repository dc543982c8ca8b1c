package dev.pmmha.deploy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An HAProxy configuration file split into its sections ({@code global}, {@code defaults}, {@code frontend x},
 * {@code backend x}, ...) and their lines, with comments removed: enough to compare backends and frontends
 * with the compose file and the manifests. {@code haproxy -c} checks the syntax (HaproxyConfigTest).
 */
final class HaproxyConfig {

  record Server(String name, String address, List<String> options) {
    String host() {
      return address.substring(0, address.lastIndexOf(':'));
    }

    int port() {
      return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    }

    boolean backup() {
      return options.contains("backup");
    }
  }

  final Map<String, List<String>> sections = new LinkedHashMap<>();

  static HaproxyConfig parse(String text) {
    HaproxyConfig cfg = new HaproxyConfig();
    List<String> current = null;
    for (String raw : text.split("\n")) {
      String line = stripComment(raw);
      if (line.isBlank()) {
        continue;
      }
      boolean indented = Character.isWhitespace(raw.charAt(0));
      if (!indented) {
        current = new ArrayList<>();
        cfg.sections.put(line.trim().replaceAll("\\s+", " "), current);
      } else if (current == null) {
        throw new IllegalArgumentException("indented line outside a section: " + raw);
      } else {
        current.add(line.trim().replaceAll("\\s+", " "));
      }
    }
    return cfg;
  }

  private static String stripComment(String line) {
    int hash = line.indexOf('#');
    return hash < 0 ? line : line.substring(0, hash);
  }

  List<String> section(String name) {
    List<String> s = sections.get(name);
    if (s == null) {
      throw new AssertionError("no section \"" + name + "\" in " + sections.keySet());
    }
    return s;
  }

  List<String> names(String kind) {
    return sections.keySet().stream().filter(k -> k.startsWith(kind + " ")).map(k -> k.substring(kind.length() + 1))
        .toList();
  }

  List<String> lines(String section, String keyword) {
    return section(section).stream().filter(l -> l.equals(keyword) || l.startsWith(keyword + " ")).toList();
  }

  List<Server> servers(String backend) {
    List<Server> out = new ArrayList<>();
    for (String l : lines("backend " + backend, "server")) {
      String[] p = l.split(" ");
      out.add(new Server(p[1], p[2], List.of(p).subList(3, p.length)));
    }
    return out;
  }
}
