package dev.pmmha.http;

import com.typesafe.config.Config;

/** {@code pmm-ha.http}: where the PMM API routes listen, and who may change state through them. */
public record HttpSettings(String bindAddress, int port, Auth auth) {

  public HttpSettings(String bindAddress, int port) {
    this(bindAddress, port, Auth.open());
  }

  public static HttpSettings create(Config root) {
    Config c = root.getConfig("pmm-ha.http");
    String portText = c.getString("port").trim();
    int port;
    try {
      port = Integer.parseInt(portText);
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 1 || port > 65535) {
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
    return new HttpSettings(c.getString("bind-address"), port,
        new Auth(user, c.getString("admin-password"), c.getString("api-token"), reads));
  }
}
