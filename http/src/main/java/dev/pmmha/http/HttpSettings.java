package dev.pmmha.http;

import com.typesafe.config.Config;

/** {@code pmm-ha.http}: where the PMM API routes listen. */
public record HttpSettings(String bindAddress, int port) {

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
    return new HttpSettings(c.getString("bind-address"), port);
  }
}
