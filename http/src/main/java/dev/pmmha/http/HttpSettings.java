package dev.pmmha.http;

import com.typesafe.config.Config;
import dev.pmmha.http.routes.Auth;

/** {@code pmm-ha.http}: where the PMM API routes listen, and who may change state through them. */
public record HttpSettings(String bindAddress, int port, Auth auth, int probePort) {

  public HttpSettings(String bindAddress, int port) {
    this(bindAddress, port, Auth.open(), 0);
  }

  public HttpSettings(String bindAddress, int port, Auth auth) {
    this(bindAddress, port, auth, 0);
  }

  /**
   * True when the leader checks are served on a probe port of their own too
   * ({@link dev.pmmha.http.probe.ProbeServer}).
   */
  public boolean probeEnabled() {
    return probePort > 0;
  }

  public static HttpSettings create(Config root) {
    Config c = root.getConfig("pmm-ha.http");
    String portText = c.getString("port").trim();
    int port = port(portText);
    if (port < 0) {
      throw new IllegalArgumentException(
          "PMM_HA_HTTP_PORT=\"" + portText + "\" is not valid: expected a port from 1 to 65535");
    }
    String user = c.getString("admin-user").trim();
    if (user.isEmpty() || user.contains(":")) {
      throw new IllegalArgumentException(
          "PMM_HA_ADMIN_USER=\"" + user + "\" is not valid: expected a user name without ':'");
    }
    String readsText = c.getString("auth-reads").trim().toLowerCase(java.util.Locale.ROOT);
    if (!readsText.matches("1|0|true|false|yes|no|on|off")) {
      throw new IllegalArgumentException(
          "PMM_HA_AUTH_READS=\"" + readsText + "\" is not valid: expected true or false");
    }
    boolean reads = readsText.matches("1|true|yes|on");
    String probeText = c.getString("probe-port").trim();
    int probe = 0;
    if (!probeText.isEmpty() && !probeText.equals("0") && !probeText.equalsIgnoreCase("off")) {
      probe = port(probeText);
      if (probe < 0) {
        throw new IllegalArgumentException("PMM_HA_PROBE_PORT=\"" + probeText
            + "\" is not valid: expected a port from 1 to 65535, or empty (or off) for no probe port");
      }
      if (probe == port) {
        throw new IllegalArgumentException("PMM_HA_PROBE_PORT=\"" + probe + "\" is not valid: expected a port "
            + "other than the API port (PMM_HA_HTTP_PORT " + port + "), or empty (or off) for no probe port");
      }
    }
    return new HttpSettings(c.getString("bind-address"), port,
        new Auth(user, c.getString("admin-password"), c.getString("api-token"), reads), probe);
  }

  /** {@code text} as a TCP port from 1 to 65535, or -1. */
  private static int port(String text) {
    try {
      int p = Integer.parseInt(text);
      return p >= 1 && p <= 65535 ? p : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
