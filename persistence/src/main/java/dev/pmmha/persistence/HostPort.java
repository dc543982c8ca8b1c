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
    if (host.isEmpty() || !host.matches("[A-Za-z0-9._:%-]+")) {
      throw new SettingsException(variable, text, "host or host:port");
    }
    int port = portText == null ? defaultPort : parsePort(portText, variable, text);
    return new HostPort(host, port);
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
