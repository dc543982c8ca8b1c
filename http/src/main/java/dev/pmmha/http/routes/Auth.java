package dev.pmmha.http.routes;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.Optional;

/**
 * Who may change state: HTTP basic with the admin credentials ({@code PMM_HA_ADMIN_USER} /
 * {@code PMM_HA_ADMIN_PASSWORD}) or a bearer token ({@code PMM_HA_API_TOKEN}). Secrets are compared in constant
 * time. With neither configured, writes are open (a warning is logged at start).
 */
public final class Auth {

  private final String user;
  private final byte[] password;
  private final byte[] token;
  private final boolean protectReads;

  public Auth(String user, String password, String token, boolean protectReads) {
    this.user = user;
    this.password = password == null || password.isEmpty() ? null : password.getBytes(StandardCharsets.UTF_8);
    this.token = token == null || token.isEmpty() ? null : token.getBytes(StandardCharsets.UTF_8);
    this.protectReads = protectReads;
  }

  public static Auth open() {
    return new Auth("admin", "", "", false);
  }

  /** True when credentials are configured, so that writes need them. */
  public boolean enabled() {
    return password != null || token != null;
  }

  /** Whether the HA reads (nodes, leader, settings, history, metrics, status page) need credentials too. */
  public boolean protectReads() {
    return protectReads && enabled();
  }

  /** Checks an {@code Authorization} header value; empty means accepted. */
  public Optional<String> check(Optional<String> authorization) {
    if (!enabled()) {
      return Optional.empty();
    }
    if (authorization.isEmpty()) {
      return Optional.of("authentication required: HTTP basic with the admin user, or a bearer token");
    }
    String h = authorization.get().trim();
    if (token != null && h.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return equal(h.substring(7).trim().getBytes(StandardCharsets.UTF_8), token)
          ? Optional.empty() : Optional.of("invalid credentials");
    }
    if (password != null && h.regionMatches(true, 0, "Basic ", 0, 6)) {
      String decoded;
      try {
        decoded = new String(Base64.getDecoder().decode(h.substring(6).trim()), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        return Optional.of("invalid credentials");
      }
      int colon = decoded.indexOf(':');
      if (colon < 0) {
        return Optional.of("invalid credentials");
      }
      boolean userOk = equal(decoded.substring(0, colon).getBytes(StandardCharsets.UTF_8), user.getBytes(StandardCharsets.UTF_8));
      boolean passOk = equal(decoded.substring(colon + 1).getBytes(StandardCharsets.UTF_8), password);
      return userOk & passOk ? Optional.empty() : Optional.of("invalid credentials");
    }
    return Optional.of("invalid credentials");
  }

  private static boolean equal(byte[] a, byte[] b) {
    return MessageDigest.isEqual(a, b);
  }
}
