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

/** deploy/haproxy/make-cert.sh makes the guide's self-signed certificate and the PEM HAProxy loads. */
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
}
