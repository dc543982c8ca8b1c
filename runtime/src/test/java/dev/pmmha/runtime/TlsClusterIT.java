package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.config.TlsSettings;
import dev.pmmha.runtime.tls.NodeTlsProvider;
import dev.pmmha.testkit.PostgresServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutual TLS between nodes and HTTPS: three nodes with per-node certificates (CN=node-N, IP SAN) from one CA form
 * the cluster; nodes with the shared-subject convention do too; a node with a certificate from another CA cannot
 * join, says why in its readiness and its log, and neither it nor a bare Pekko intruder disturbs the cluster.
 */
@Tag("integration")
class TlsClusterIT extends WithPostgres {

  /** deploy/tls/make-certs.sh with {@code args} (options, then OUT_DIR, then nodes). */
  static void makeCerts(Object... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of("sh", "../deploy/tls/make-certs.sh"));
    for (Object a : args) {
      cmd.add(a.toString());
    }
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
  }

  static Map<String, String> tlsEnv(Path dir, String name) {
    return Map.of("PMM_HA_TLS_CERT", dir.resolve(name + ".crt").toString(), "PMM_HA_TLS_KEY",
        dir.resolve(name + ".key").toString(), "PMM_HA_TLS_CA", dir.resolve("ca.crt").toString());
  }

  /** node-N on 127.0.0.N, with its own HTTPS port. */
  static Map<String, String> loopback(String id, Map<String, Integer> httpsPorts) {
    int port = PostgresServer.freePort();
    httpsPorts.put(id, port);
    String ip = "127.0.0." + id.substring("node-".length());
    return Map.of("PMM_HA_ADVERTISE_ADDRESS", ip, "PMM_HA_BIND_ADDRESS", ip, "PMM_HA_HTTPS_PORT", String.valueOf(port));
  }

  static Map<String, String> merge(Map<String, String> a, Map<String, String> b) {
    Map<String, String> m = new java.util.HashMap<>(a);
    m.putAll(b);
    return m;
  }

  @Test
  void perNodeCertificatesFromOneCaFormTheClusterAndServeHttps(@TempDir Path dir) throws Exception {
    makeCerts(dir, "node-1=127.0.0.1", "node-2=127.0.0.2", "node-3=127.0.0.3");
    Map<String, Integer> httpsPorts = new ConcurrentHashMap<>();
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase(),
        id -> merge(tlsEnv(dir, id), loopback(id, httpsPorts)), ConfigFactory.empty())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.waitForUp(n, 3, Duration.ofSeconds(60));
        assertEquals("127.0.0." + n.id().substring("node-".length()),
            Cluster.get(n.node().system()).selfMember().address().getHost().get(), n.id() + " advertises its own IP");
      }
      assertEquals("tls-tcp", leader.node().system().settings().config().getString("pekko.remote.artery.transport"));

      // HTTPS with the cluster's CA and host name verification: each node's certificate names its own IP
      HttpClient https = HttpClient.newBuilder()
          .sslContext(TlsSettings.create(PmmHaConfig.load(tlsEnv(dir, "node-1"))).sslContext()).build();
      for (LocalCluster.Node n : c.running()) {
        String ip = "127.0.0." + n.id().substring("node-".length());
        int code = https.send(HttpRequest.newBuilder(URI.create("https://" + ip + ":" + httpsPorts.get(n.id())
            + "/v1/server/leaderHealthCheck")).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        assertEquals(n == leader ? 200 : 503, code, n.id() + " over HTTPS");
      }
    }
  }

  @Test
  void aNodeWithAnotherCasCertificateCannotJoinAndSaysWhy(@TempDir Path dir) throws Exception {
    Path good = dir.resolve("good");
    Path evil = dir.resolve("evil");
    // the shared-subject convention, without IP SANs: node-1 and node-2 accept each other by subject alone
    makeCerts("--shared-subject", good, "node-1", "node-2");
    makeCerts(evil, "node-3=127.0.0.3");
    String goodCa = TlsSettings.create(PmmHaConfig.load(tlsEnv(good, "node-1"))).trustManager()
        .getAcceptedIssuers()[0].getSubjectX500Principal().getName();
    Map<String, Integer> httpsPorts = new ConcurrentHashMap<>();
    var logged = captureTlsLog();
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase(),
        id -> merge(tlsEnv(id.equals("node-3") ? evil : good, id), loopback(id, httpsPorts)), ConfigFactory.empty())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      LocalCluster.waitForUp(leader, 2, Duration.ofSeconds(60));
      long epoch = c.json(leader, "/v1/ha/leader").get("epoch").asLong();
      LocalCluster.Node outsider = c.running().stream().filter(n -> n.id().equals("node-3")).findFirst().orElseThrow();

      // node-3 is not ready, and its readiness names the peer, what it presented and what node-3 expected
      String evilCa = TlsSettings.create(PmmHaConfig.load(tlsEnv(evil, "node-3"))).trustManager()
          .getAcceptedIssuers()[0].getSubjectX500Principal().getName();
      String reason = null;
      String last = null;
      for (long until = System.nanoTime() + Duration.ofSeconds(30).toNanos(); reason == null; Thread.sleep(100)) {
        assertTrue(System.nanoTime() < until, "node-3's readiness names the TLS refusal; last /v1/readyz: " + last);
        try {
          var r = c.json(outsider, "/v1/readyz");
          last = r.toString();
          String why = r.get("reason").asText();
          if (r.get("status").asText().equals("not ready") && why.contains("TLS with peer 127.0.0.1 refused")) {
            reason = why;
          }
        } catch (IllegalStateException notListeningYet) {
          last = notListeningYet.toString();
        }
      }
      assertTrue(reason.contains("not signed by this cluster's CA"), reason);
      assertTrue(reason.contains("subject \"CN=pmm-ha\"") && reason.contains("issuer \"" + goodCa + "\""),
          "what node-1 presented: " + reason);
      assertTrue(reason.contains("expected a certificate issued by PMM_HA_TLS_CA [\"" + evilCa + "\"]"),
          "what node-3 expected (its own CA): " + reason);

      // the other direction: a client with node-3's certificate knocks on node-1's cluster port
      LocalCluster.Node first = c.running().get(0);
      knock(evil, "node-3", first.gossipPort());
      LocalCluster.eventually(Duration.ofSeconds(10), () -> logged.list.stream()
          .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
          .anyMatch(l -> l.startsWith("TLS with a node connecting to this one refused: its certificate is not signed")
              && l.contains("subject \"CN=node-3\"") && l.contains("issuer \"" + evilCa + "\"")) ? true : null,
          "node-1 logs who knocked with which certificate");

      // an intruder with a certificate from yet another CA, with Pekko's own TLS provider, tries to join too
      Path other = dir.resolve("other");
      makeCerts("--shared-subject", other, "node=127.0.0.1");
      var intruderConfig = ConfigFactory.parseMap(Map.of(
              "pekko.actor.provider", "cluster",
              "pekko.remote.artery.canonical.hostname", "127.0.0.1",
              "pekko.remote.artery.canonical.port", 0,
              "pekko.remote.artery.transport", "tls-tcp",
              "pekko.remote.artery.ssl.ssl-engine-provider", "org.apache.pekko.remote.artery.tcp.ssl.RotatingKeysSSLEngineProvider",
              "pekko.remote.artery.ssl.rotating-keys-engine.key-file", other.resolve("node.key").toString(),
              "pekko.remote.artery.ssl.rotating-keys-engine.cert-file", other.resolve("node.crt").toString(),
              "pekko.remote.artery.ssl.rotating-keys-engine.ca-cert-file", other.resolve("ca.crt").toString()))
          .withFallback(ConfigFactory.load());
      ActorSystem<Void> intruder = ActorSystem.create(Behaviors.empty(), "pmm-ha", intruderConfig);
      try {
        Cluster.get(intruder).manager().tell(Join.create(Cluster.get(leader.node().system()).selfMember().address()));
        long until = System.nanoTime() + Duration.ofSeconds(8).toNanos();
        while (System.nanoTime() < until) {
          assertNotEquals(MemberStatus.up(), Cluster.get(intruder).selfMember().status(), "the intruder is never Up");
          assertEquals(2, Cluster.get(leader.node().system()).state().getMembers().spliterator().getExactSizeIfKnown(),
              "the cluster has only node-1 and node-2");
          assertNotEquals(MemberStatus.up(), Cluster.get(outsider.node().system()).selfMember().status(),
              "node-3 is never Up");
          Thread.sleep(200);
        }
      } finally {
        intruder.terminate();
        intruder.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      assertEquals(503, LocalCluster.status(outsider, "GET", "/v1/readyz"));
      assertEquals(List.of(leader.id()), c.leaders().stream().map(LocalCluster.Node::id).toList());
      assertEquals(epoch, c.json(leader, "/v1/ha/leader").get("epoch").asLong(), "the leader did not change");

      // node-3 kept retrying for the whole test, yet said it once per peer and cause
      List<String> lines = logged.list.stream().map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
          .filter(l -> l.startsWith("TLS with peer 127.0.0.1 refused")).toList();
      assertEquals(1, lines.size(), lines.toString());
    } finally {
      ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(NodeTlsProvider.class)).detachAppender(logged);
    }
  }

  @Test
  void aNodeWhoseCertificateNamesAnotherAddressIsRefusedAndSaysWhy(@TempDir Path dir) throws Exception {
    // node-3 advertises 127.0.0.3 but its certificate, from the right CA, names 127.0.0.9
    makeCerts(dir, "node-1=127.0.0.1", "node-2=127.0.0.2", "node-3=127.0.0.9");
    Map<String, Integer> httpsPorts = new ConcurrentHashMap<>();
    var logged = captureTlsLog();
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase(),
        id -> merge(tlsEnv(dir, id), loopback(id, httpsPorts)), ConfigFactory.empty())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      LocalCluster.waitForUp(leader, 2, Duration.ofSeconds(60));
      long epoch = c.json(leader, "/v1/ha/leader").get("epoch").asLong();
      LocalCluster.Node outsider = c.running().stream().filter(n -> n.id().equals("node-3")).findFirst().orElseThrow();
      // node-3 knows at start that its certificate does not name its address, and says so while not Up
      var ready = c.json(outsider, "/v1/readyz");
      assertEquals("not ready", ready.get("status").asText());
      assertTrue(ready.get("reason").asText().contains("does not name PMM_HA_ADVERTISE_ADDRESS=127.0.0.3"),
          ready.toString());
      // the nodes that dial it back refuse it, in their own words
      LocalCluster.eventually(Duration.ofSeconds(30), () -> logged.list.stream()
          .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
          .anyMatch(l -> l.startsWith("TLS with peer 127.0.0.3 refused: its certificate names neither 127.0.0.3")
              && l.contains("IP:127.0.0.9")) ? true : null, "a node logs why it refuses node-3");
      long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (System.nanoTime() < until) {
        assertNotEquals(MemberStatus.up(), Cluster.get(outsider.node().system()).selfMember().status(),
            "node-3 is never Up");
        long up = 0;
        for (var m : Cluster.get(leader.node().system()).state().getMembers()) {
          up += m.status() == MemberStatus.up() ? 1 : 0;
        }
        assertEquals(2, up, "only node-1 and node-2 are Up");
        Thread.sleep(200);
      }
      assertEquals(List.of(leader.id()), c.leaders().stream().map(LocalCluster.Node::id).toList());
      assertEquals(epoch, c.json(leader, "/v1/ha/leader").get("epoch").asLong(), "the leader did not change");
      assertEquals(503, LocalCluster.status(outsider, "GET", "/v1/readyz"));
    } finally {
      ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(NodeTlsProvider.class)).detachAppender(logged);
    }
  }

  /**
   * openssl s_client with {@code name}'s certificate: unlike a JDK client, it sends its certificate even when the
   * server asks for another CA's, so the server's check is the one that refuses it.
   */
  static void knock(Path dir, String name, int port) throws Exception {
    Process p = new ProcessBuilder("openssl", "s_client", "-connect", "127.0.0.1:" + port, "-tls1_3",
        "-cert", dir.resolve(name + ".crt").toString(), "-key", dir.resolve(name + ".key").toString())
        .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    p.getInputStream().readAllBytes();
    if (!p.waitFor(20, TimeUnit.SECONDS)) {
      p.destroyForcibly();
    }
  }

  @Test
  void halfATlsConfigurationIsAOneLineError() {
    var e = assertThrows(SettingsException.class,
        () -> TlsSettings.create(PmmHaConfig.load(Map.of("PMM_HA_TLS_CERT", "/etc/hostname"))));
    assertTrue(e.getMessage().startsWith("PMM_HA_TLS_KEY=\"\" is not valid"), e.getMessage());
    var missing = assertThrows(SettingsException.class, () -> TlsSettings.create(PmmHaConfig.load(Map.of(
        "PMM_HA_TLS_CERT", "/nope.crt", "PMM_HA_TLS_KEY", "/nope.key", "PMM_HA_TLS_CA", "/nope.ca"))));
    assertEquals("PMM_HA_TLS_CERT=\"/nope.crt\" is not valid: expected a readable PEM file", missing.getMessage());
  }

  /** What NodeTlsProvider logs from now on, kept for the test to read. */
  static ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> captureTlsLog() {
    ch.qos.logback.classic.Logger tlsLog =
        (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(NodeTlsProvider.class);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
        new ch.qos.logback.core.read.ListAppender<>();
    logged.start();
    tlsLog.addAppender(logged);
    return logged;
  }
}
