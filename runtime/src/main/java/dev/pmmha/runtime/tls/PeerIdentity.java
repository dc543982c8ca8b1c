package dev.pmmha.runtime.tls;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * Whether a peer's certificate, already chained to the cluster CA, names a node of this cluster. Two conventions
 * are accepted: the shared subject (Pekko's rotating-keys one: the peer's CN or a DNS SAN equals one of this
 * node's), or a per-node certificate whose IP or DNS SAN matches the address this node dialled. A node accepting
 * a connection does not know the caller's address at handshake, so there the check is that the certificate is a
 * node certificate (shared subject, or an IP/DNS SAN, usable for client authentication).
 */
public final class PeerIdentity {

  private PeerIdentity() {}

  /** Empty when {@code peer}, reached at {@code host}, is a node of this cluster; otherwise why not. */
  public static Optional<String> checkServer(X509Certificate own, X509Certificate peer, String host) {
    if (sharesSubject(own, peer)) {
      return Optional.empty();
    }
    if (sanMatches(peer, host)) {
      return Optional.empty();
    }
    return Optional.of("its certificate names neither " + host + " (as an IP or DNS subject alternative name) nor "
        + "this node's subject " + subjectNames(own));
  }

  /** Empty when {@code peer}, which connected to this node, presents a node certificate; otherwise why not. */
  public static Optional<String> checkClient(X509Certificate own, X509Certificate peer) {
    if (sharesSubject(own, peer)) {
      return Optional.empty();
    }
    if (addressNames(peer).isEmpty()) {
      return Optional.of("its certificate has no IP or DNS subject alternative name and does not share this node's "
          + "subject " + subjectNames(own));
    }
    try {
      List<String> eku = peer.getExtendedKeyUsage();
      if (eku != null && !eku.contains("1.3.6.1.5.5.7.3.2") && !eku.contains("2.5.29.37.0")) {
        return Optional.of("its certificate is not for client authentication (extended key usage " + eku + ")");
      }
    } catch (CertificateParsingException e) {
      return Optional.of("its extended key usage cannot be read: " + e.getMessage());
    }
    return Optional.empty();
  }

  /** The CN and DNS SANs, as Pekko's rotating-keys provider compares them. */
  public static Set<String> subjectNames(X509Certificate c) {
    Set<String> names = new LinkedHashSet<>();
    cn(c).ifPresent(names::add);
    for (List<?> san : sans(c)) {
      if (Integer.valueOf(2).equals(san.get(0))) {
        names.add(String.valueOf(san.get(1)));
      }
    }
    return names;
  }

  static boolean sharesSubject(X509Certificate own, X509Certificate peer) {
    Set<String> mine = subjectNames(own);
    return subjectNames(peer).stream().anyMatch(mine::contains);
  }

  /** The IP and DNS SANs, as {@code IP:x} and {@code DNS:y}. */
  public static List<String> addressNames(X509Certificate c) {
    List<String> out = new ArrayList<>();
    for (List<?> san : sans(c)) {
      Object type = san.get(0);
      if (Integer.valueOf(2).equals(type)) {
        out.add("DNS:" + san.get(1));
      } else if (Integer.valueOf(7).equals(type)) {
        out.add("IP:" + san.get(1));
      }
    }
    return out;
  }

  /** One line for logs: subject, SANs and issuer. */
  public static String describe(X509Certificate c) {
    return "subject \"" + c.getSubjectX500Principal().getName() + "\", SANs " + addressNames(c) + ", issuer \""
        + c.getIssuerX500Principal().getName() + "\"";
  }

  /** Whether an IP or DNS SAN of {@code c} names {@code host} (an IP literal or a DNS name). */
  public static boolean sanMatches(X509Certificate peer, String host) {
    String h = stripDot(host.toLowerCase(Locale.ROOT));
    if (h.startsWith("[") && h.endsWith("]")) {
      h = h.substring(1, h.length() - 1);
    }
    InetAddress ip = ipLiteral(h);
    for (List<?> san : sans(peer)) {
      Object type = san.get(0);
      String value = String.valueOf(san.get(1));
      if (ip != null && Integer.valueOf(7).equals(type) && ip.equals(ipLiteral(value))) {
        return true;
      }
      if (ip == null && Integer.valueOf(2).equals(type) && dnsMatches(stripDot(value.toLowerCase(Locale.ROOT)), h)) {
        return true;
      }
    }
    return false;
  }

  private static boolean dnsMatches(String pattern, String host) {
    if (pattern.startsWith("*.")) {
      int dot = host.indexOf('.');
      return dot > 0 && host.substring(dot).equals(pattern.substring(1));
    }
    return pattern.equals(host);
  }

  private static String stripDot(String s) {
    return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
  }

  /** The address if {@code s} is an IPv4 or IPv6 literal, else null (never a DNS lookup). */
  private static InetAddress ipLiteral(String s) {
    boolean v4 = s.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
    boolean v6 = s.contains(":") && s.matches("[0-9a-fA-F:.%a-zA-Z]+");
    if (!v4 && !v6) {
      return null;
    }
    try {
      return InetAddress.getByName(s);
    } catch (UnknownHostException e) {
      return null;
    }
  }

  private static Optional<String> cn(X509Certificate c) {
    try {
      for (Rdn rdn : new LdapName(c.getSubjectX500Principal().getName()).getRdns()) {
        if (rdn.getType().equalsIgnoreCase("CN")) {
          return Optional.of(String.valueOf(rdn.getValue()));
        }
      }
    } catch (InvalidNameException e) {
      return Optional.empty();
    }
    return Optional.empty();
  }

  private static List<List<?>> sans(X509Certificate c) {
    try {
      var all = c.getSubjectAlternativeNames();
      return all == null ? List.of() : new ArrayList<>(all);
    } catch (CertificateParsingException e) {
      return List.of();
    }
  }
}
