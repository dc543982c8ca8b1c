package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/haproxy/make-cert.sh makes the guide's self-signed certificate and the PEM HAProxy loads;
 * deploy/tls/make-certs.sh makes the cluster CA and the node certificates, per-node or with one shared subject.
 */
class MakeCertTest {

  static Tools.Result makeCert(Path dir, Map<String, String> env) {
    Tools.require("openssl", "apt-get install openssl");
    return Tools.run(Tools.cmd("/bin/sh", Repo.MAKE_CERT, dir), env, null, 60);
  }

  static String openssl(Object... args) {
    Object[] cmd = new Object[args.length + 1];
    cmd[0] = "openssl";
    System.arraycopy(args, 0, cmd, 1, args.length);
    Tools.Result r = Tools.run(Tools.cmd(cmd), Map.of(), null, 30);
    assertEquals(0, r.exitCode(), r.stderr());
    return r.stdout();
  }

  @Test
  void makesAKeyACertificateAndTheirPemOnceAndKeepsIt(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("certs");
    Tools.Result r = makeCert(dir, Map.of("PMM_HA_CERT_CN", "pmm.example.com"));
    assertEquals(0, r.exitCode(), r.stderr());
    String pem = Files.readString(dir.resolve("pmm.pem"));
    assertEquals(Files.readString(dir.resolve("pmm.crt")) + Files.readString(dir.resolve("pmm.key")), pem,
        "pmm.pem = pmm.crt + pmm.key, as the guide's cat");
    assertTrue(pem.contains("-----BEGIN CERTIFICATE-----") && pem.contains("-----BEGIN PRIVATE KEY-----"));
    assertTrue(openssl("x509", "-in", dir.resolve("pmm.crt"), "-noout", "-subject").contains("pmm.example.com"));
    // the certificate belongs to the key
    assertEquals(openssl("x509", "-in", dir.resolve("pmm.crt"), "-noout", "-pubkey"),
        openssl("pkey", "-in", dir.resolve("pmm.key"), "-pubout"));
    assertTrue(openssl("pkey", "-in", dir.resolve("pmm.key"), "-noout", "-text").contains("2048 bit"), "RSA 2048");
    // 365 days, as in the guide
    String end = openssl("x509", "-in", dir.resolve("pmm.crt"), "-noout", "-enddate").trim()
        .substring("notAfter=".length()).replaceAll(" +", " ");
    Instant notAfter = ZonedDateTime.parse(end, DateTimeFormatter.ofPattern("MMM d HH:mm:ss yyyy z", Locale.ROOT))
        .toInstant();
    long days = Duration.between(Instant.now(), notAfter).toDays();
    assertTrue(days >= 364 && days <= 365, "valid for 365 days: " + end);
    // the private key is not world-readable
    assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("pmm.pem"))));
    // a second run (compose's one-shot on every `up`) keeps what is there, e.g. a real certificate
    byte[] before = Files.readAllBytes(dir.resolve("pmm.pem"));
    Tools.Result again = makeCert(dir, Map.of());
    assertEquals(0, again.exitCode(), again.stderr());
    assertTrue(again.stdout().contains("kept"), again.stdout());
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("pmm.pem")));
  }

  static Tools.Result makeCerts(Object... args) {
    Tools.require("openssl", "apt-get install openssl");
    Object[] cmd = new Object[args.length + 2];
    cmd[0] = "/bin/sh";
    cmd[1] = Repo.MAKE_CERTS;
    System.arraycopy(args, 0, cmd, 2, args.length);
    return Tools.run(Tools.cmd(cmd), Map.of(), null, 60);
  }

  /** Subject, SANs and extended key usage, as openssl prints them. */
  static String names(Path crt) {
    return openssl("x509", "-in", crt, "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage");
  }

  static void signedByCaAndMatchingItsKey(Path dir, String node) throws Exception {
    assertTrue(openssl("verify", "-CAfile", dir.resolve("ca.crt"), dir.resolve(node + ".crt")).contains(": OK"));
    assertEquals(openssl("x509", "-in", dir.resolve(node + ".crt"), "-noout", "-pubkey"),
        openssl("pkey", "-in", dir.resolve(node + ".key"), "-pubout"));
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(node + ".key"))));
  }

  @Test
  void makesPerNodeCertificatesByDefaultAndKeepsTheCa(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("tls");
    Tools.Result r = makeCerts(dir, "node1=10.0.0.1", "node2");
    assertEquals(0, r.exitCode(), r.stderr());
    String node1 = names(dir.resolve("node1.crt"));
    assertTrue(node1.contains("subject=CN = node1"), node1);
    assertTrue(node1.contains("DNS:node1, IP Address:10.0.0.1"), node1);
    assertTrue(!node1.contains("pmm-ha"), "no shared name: " + node1);
    assertTrue(node1.contains("TLS Web Server Authentication, TLS Web Client Authentication"), node1);
    String node2 = names(dir.resolve("node2.crt"));
    assertTrue(node2.contains("subject=CN = node2") && node2.contains("DNS:node2") && !node2.contains("IP Address"),
        node2);
    signedByCaAndMatchingItsKey(dir, "node1");
    signedByCaAndMatchingItsKey(dir, "node2");
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("ca.key"))));
    assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("ca.crt"))));
    // a node added later gets a certificate from the same CA
    byte[] ca = Files.readAllBytes(dir.resolve("ca.crt"));
    Tools.Result more = makeCerts(dir, "node3=10.0.0.3");
    assertEquals(0, more.exitCode(), more.stderr());
    assertArrayEquals(ca, Files.readAllBytes(dir.resolve("ca.crt")));
    signedByCaAndMatchingItsKey(dir, "node3");
    // two runs in two directories make two CAs that are told apart by name
    Path other = tmp.resolve("other");
    assertEquals(0, makeCerts(other, "node1").exitCode());
    assertTrue(!openssl("x509", "-in", dir.resolve("ca.crt"), "-noout", "-subject")
        .equals(openssl("x509", "-in", other.resolve("ca.crt"), "-noout", "-subject")));
  }

  @Test
  void makesSharedSubjectCertificatesOnRequest(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("tls");
    Tools.Result r = makeCerts("--shared-subject", dir, "node1=10.0.0.1", "node2=10.0.0.2");
    assertEquals(0, r.exitCode(), r.stderr());
    for (String node : new String[] {"node1", "node2"}) {
      String names = names(dir.resolve(node + ".crt"));
      assertTrue(names.contains("subject=CN = pmm-ha"), names);
      assertTrue(names.contains("DNS:pmm-ha, DNS:" + node + ", IP Address:10.0.0." + node.charAt(4)), names);
      signedByCaAndMatchingItsKey(dir, node);
    }
  }

  @Test
  void badArgumentsAreOneLineErrors(@TempDir Path tmp) {
    Tools.Result usage = makeCerts(tmp.resolve("tls"));
    assertEquals(2, usage.exitCode());
    assertTrue(usage.stderr().contains("usage:") && usage.stderr().contains("[--shared-subject] OUT_DIR NODE[=IP]"),
        usage.stderr());
    Tools.Result bad = makeCerts(tmp.resolve("tls"), "../node1=10.0.0.1");
    assertEquals(2, bad.exitCode());
    assertTrue(bad.stderr().contains("bad node name '../node1'"), bad.stderr());
  }
}
