package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.config.TlsSettings;
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
 * Mutual TLS between nodes and HTTPS: three nodes with certificates from one CA form the cluster; a process with
 * a certificate from another CA cannot join or disturb it; the health check answers over HTTPS.
 */
@Tag("integration")
class TlsClusterIT extends WithPostgres {


  static void makeCerts(Path dir, String... nodes) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of("sh", "../deploy/tls/make-certs.sh", dir.toString()));
    cmd.addAll(List.of(nodes));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
  }

  @Test
  void onlyNodesWithTheClustersCaJoinAndTheApiAnswersOverHttps(@TempDir Path dir) throws Exception {
    Path good = dir.resolve("good");
    Path evil = dir.resolve("evil");
    makeCerts(good, "node=127.0.0.1");
    makeCerts(evil, "node=127.0.0.1");
    Map<String, Integer> httpsPorts = new ConcurrentHashMap<>();
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase(), id -> {
      int port = PostgresServer.freePort();
      httpsPorts.put(id, port);
      return Map.of("PMM_HA_TLS_CERT", good.resolve("node.crt").toString(), "PMM_HA_TLS_KEY",
          good.resolve("node.key").toString(), "PMM_HA_TLS_CA", good.resolve("ca.crt").toString(),
          "PMM_HA_HTTPS_PORT", String.valueOf(port));
    }, ConfigFactory.empty())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      // the three members formed the cluster (a leader can be elected while the others are still joining)
      LocalCluster.waitForUp(leader, 3, Duration.ofSeconds(60));
      long epoch = c.json(leader, "/v1/ha/leader").get("epoch").asLong();
      assertEquals("tls-tcp", leader.node().system().settings().config().getString("pekko.remote.artery.transport"));

      // HTTPS with the cluster's CA: the leader answers 200, a follower 503
      HttpClient https = HttpClient.newBuilder()
          .sslContext(TlsSettings.create(PmmHaConfig.load(Map.of("PMM_HA_TLS_CERT", good.resolve("node.crt").toString(),
              "PMM_HA_TLS_KEY", good.resolve("node.key").toString(), "PMM_HA_TLS_CA", good.resolve("ca.crt").toString())))
              .sslContext()).build();
      for (LocalCluster.Node n : c.running()) {
        int code = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + httpsPorts.get(n.id())
            + "/v1/server/leaderHealthCheck")).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        assertEquals(n == leader ? 200 : 503, code, n.id() + " over HTTPS");
      }

      // an intruder with a certificate from another CA tries to join
      var intruderConfig = ConfigFactory.parseMap(Map.of(
              "pekko.actor.provider", "cluster",
              "pekko.remote.artery.canonical.hostname", "127.0.0.1",
              "pekko.remote.artery.canonical.port", 0,
              "pekko.remote.artery.transport", "tls-tcp",
              "pekko.remote.artery.ssl.ssl-engine-provider", "org.apache.pekko.remote.artery.tcp.ssl.RotatingKeysSSLEngineProvider",
              "pekko.remote.artery.ssl.rotating-keys-engine.key-file", evil.resolve("node.key").toString(),
              "pekko.remote.artery.ssl.rotating-keys-engine.cert-file", evil.resolve("node.crt").toString(),
              "pekko.remote.artery.ssl.rotating-keys-engine.ca-cert-file", evil.resolve("ca.crt").toString()))
          .withFallback(ConfigFactory.load());
      ActorSystem<Void> intruder = ActorSystem.create(Behaviors.empty(), "pmm-ha", intruderConfig);
      try {
        Cluster.get(intruder).manager().tell(Join.create(Cluster.get(leader.node().system()).selfMember().address()));
        long until = System.nanoTime() + Duration.ofSeconds(8).toNanos();
        while (System.nanoTime() < until) {
          assertNotEquals(MemberStatus.up(), Cluster.get(intruder).selfMember().status(), "the intruder is never Up");
          assertEquals(3, Cluster.get(leader.node().system()).state().getMembers().spliterator().getExactSizeIfKnown(),
              "the cluster has only its three members");
          Thread.sleep(200);
        }
      } finally {
        intruder.terminate();
        intruder.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      assertEquals(List.of(leader.id()), c.leaders().stream().map(LocalCluster.Node::id).toList());
      assertEquals(epoch, c.json(leader, "/v1/ha/leader").get("epoch").asLong(), "the leader did not change");
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
}
