package dev.pmmha.persistence;

/** A {@code host} or {@code host:port} from configuration; IPv6 literals are written {@code [::1]:port}. */
public record HostPort(String host, int port) {

  public static HostPort parse(String text, int defaultPort, String variable) {
    String s = text.trim();
    if (s.isEmpty()) {
      throw new SettingsException(variable, text, "host or host:port");
    }
    String host;
    String portText = null;
    if (s.startsWith("[")) {
      int end = s.indexOf(']');
      if (end < 0) {
        throw new SettingsException(variable, text, "host or host:port ([v6]:port for IPv6)");
      }
      host = s.substring(1, end);
      String rest = s.substring(end + 1);
      if (!rest.isEmpty()) {
        if (!rest.startsWith(":")) {
          throw new SettingsException(variable, text, "host or host:port ([v6]:port for IPv6)");
        }
        portText = rest.substring(1);
      }
    } else {
      int colon = s.indexOf(':');
      if (colon >= 0 && s.indexOf(':', colon + 1) >= 0) {
        host = s; // a bare IPv6 literal
      } else if (colon >= 0) {
        host = s.substring(0, colon);
        portText = s.substring(colon + 1);
      } else {
        host = s;
      }
    }
    if (host.isEmpty()) {
      throw new SettingsException(variable, text, "a host name or address before the port");
    }
    if (!host.matches("[A-Za-z0-9._:%-]+")) {
      throw new SettingsException(variable, text, "host or host:port");
    }
    int port = portText == null ? defaultPort : parsePort(portText, variable, text);
    return new HostPort(host, port);
  }

  /**
   * A comma-separated list of {@code host} or {@code host:port}, each at most once (the port filled in with
   * {@code defaultPort}): {@code pg-a:5432,pg-b:5432}. An empty entry, a bad port or a duplicate is a
   * {@link SettingsException} naming {@code variable} and the entry (or, for a duplicate or an empty entry, the
   * whole value).
   */
  public static java.util.List<HostPort> parseList(String text, int defaultPort, String variable) {
    if (text.trim().isEmpty()) {
      throw new SettingsException(variable, text, "host or host:port, or a list host1:port,host2:port");
    }
    java.util.List<HostPort> out = new java.util.ArrayList<>();
    for (String item : text.split(",", -1)) {
      if (item.isBlank()) {
        throw new SettingsException(variable, text, "a list host1:port,host2:port without an empty host");
      }
      HostPort hp = parse(item.trim(), defaultPort, variable); // an error names the entry at fault
      if (out.stream().anyMatch(o -> o.host.equalsIgnoreCase(hp.host) && o.port == hp.port)) {
        throw new SettingsException(variable, text, "each host:port once (" + hp + " is listed twice)");
      }
      out.add(hp);
    }
    return java.util.List.copyOf(out);
  }

  /** A TCP port from 1 to 65535. */
  public static int parsePort(String portText, String variable, String whole) {
    try {
      int p = Integer.parseInt(portText.trim());
      if (p >= 1 && p <= 65535) {
        return p;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new SettingsException(variable, whole, "a port from 1 to 65535");
  }

  public String hostForUrl() {
    return host.contains(":") ? "[" + host + "]" : host;
  }

  @Override
  public String toString() {
    return hostForUrl() + ":" + port;
  }
}
