package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.testkit.PostgresServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Bad requests by the thousand and a node that reuses another's id: the cluster and its leader do not notice. */
@Tag("integration")
class HostileInputIT extends WithPostgres {


  /** One bad request on a raw socket; returns the status line's code, or -1 when the server closed the connection. */
  static int raw(int port, byte[] request) {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write(request);
      out.flush();
      s.shutdownOutput();
      InputStream in = s.getInputStream();
      byte[] head = in.readNBytes(12);
      String line = new String(head, StandardCharsets.ISO_8859_1);
      return line.startsWith("HTTP/1.1 ") ? Integer.parseInt(line.substring(9, 12)) : -1;
    } catch (java.io.IOException e) {
      return -1;
    }
  }

  static byte[] request(Random rnd, int i) {
    String big = "x".repeat(20_000);
    return (switch (i % 9) {
      case 0 -> "GARBAGE " + rnd.nextLong() + "\r\n\r\n";
      case 1 -> "GET /v1/ha/nodes HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n";
      case 2 -> "PUT /v1/ha/settings/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n" + big;
      case 3 -> "PUT /v1/ha/settings/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{\"a\":";
      case 4 -> "BREW /v1/leaderHealthCheck HTTP/1.1\r\nHost: x\r\n\r\n";
      case 5 -> "GET /" + "a/".repeat(3000) + " HTTP/1.1\r\nHost: x\r\n\r\n";
      case 6 -> "PUT /v1/ha/settings/k HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 4\r\n\r\n<a/>";
      case 7 -> "GET /v1/ha/settings/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n";
      default -> "POST /v1/leaderHealthCheck HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n";
    }).getBytes(StandardCharsets.ISO_8859_1);
  }

  @Test
  void thousandsOfBadRequestsLeaveTheLeaderAndItsHealthCheckUntouched() throws Exception {
    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase())) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      long epoch = c.json(leader, "/v1/ha/leader").get("epoch").asLong();

      AtomicLong probes = new AtomicLong();
      AtomicLong misses = new AtomicLong();
      // a flag, not an interrupt: the HTTP client swallows an interrupt that arrives while a probe is in flight
      java.util.concurrent.atomic.AtomicBoolean probing = new java.util.concurrent.atomic.AtomicBoolean(true);
      Thread prober = new Thread(() -> {
        while (probing.get()) {
          probes.incrementAndGet();
          if (LocalCluster.status(leader, "POST", "/v1/leaderHealthCheck") != 200) {
            misses.incrementAndGet();
          }
          try {
            Thread.sleep(20);
          } catch (InterruptedException e) {
            return;
          }
        }
      });
      prober.start();

      // a few slow clients hold connections open with half a request
      List<Socket> slow = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        Socket s = new Socket("127.0.0.1", leader.httpPort());
        s.getOutputStream().write("GET /v1/ha/nodes HTTP/1.1\r\nHo".getBytes(StandardCharsets.ISO_8859_1));
        slow.add(s);
      }
      ExecutorService pool = Executors.newFixedThreadPool(6);
      // the answer each kind of bad request must get (-1: the server closed the connection)
      List<java.util.Set<Integer>> expected = List.of(
          java.util.Set.of(501, 400, -1), // not a method: 501 Not Implemented (RFC 9110)
          java.util.Set.of(431, -1),      // a 20 kB header
          java.util.Set.of(413, -1),      // a 200 kB body
          java.util.Set.of(400),          // truncated JSON
          java.util.Set.of(501, 405),     // unknown method
          java.util.Set.of(414, -1),      // a 6 kB URI
          java.util.Set.of(415),          // XML
          java.util.Set.of(400, -1),      // bad percent-encoding
          java.util.Set.of(200, 400, -1)); // broken chunked body on the health check (which reads no body)
      java.util.Map<Integer, java.util.Set<Integer>> unexpected = new java.util.concurrent.ConcurrentHashMap<>();
      AtomicInteger answered = new AtomicInteger();
      Random rnd = new Random(7);
      int total = 3000;
      for (int i = 0; i < total; i++) {
        byte[] req = request(rnd, i);
        int kind = i % 9;
        pool.submit(() -> {
          int code = raw(leader.httpPort(), req);
          if (!expected.get(kind).contains(code)) {
            unexpected.computeIfAbsent(kind, k -> java.util.concurrent.ConcurrentHashMap.newKeySet()).add(code);
          }
          if (code > 0) {
            answered.incrementAndGet();
          }
        });
      }
      pool.shutdown();
      assertTrue(pool.awaitTermination(5, TimeUnit.MINUTES), "the bad requests finish");
      probing.set(false);
      prober.join(30_000);
      for (Socket s : slow) {
        s.close();
      }

      assertEquals(Map.of(), unexpected, "each bad request gets its 4xx (or 501, or a closed connection); kind -> codes");
      assertTrue(answered.get() > total / 2, "most get an answer: " + answered.get());
      assertTrue(probes.get() > 50, "the prober ran: " + probes.get());
      assertEquals(0, misses.get(), "the leader's health check never missed (" + probes.get() + " probes)");
      assertEquals(List.of(leader.id()), c.leaders().stream().map(LocalCluster.Node::id).toList());
      assertEquals(epoch, c.json(leader, "/v1/ha/leader").get("epoch").asLong(), "leadership did not move");
    }
  }

  @Test
  void aSecondNodeWithTheSameIdIsRefusedAndTheClusterIsUndisturbed() throws Exception {
    String db = pg.createDatabase();
    try (LocalCluster c = LocalCluster.start(3, pg, db)) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      long epoch = c.json(leader, "/v1/ha/leader").get("epoch").asLong();
      LocalCluster.Node victim = c.running().stream().filter(n -> n != leader).findFirst().orElseThrow();
      // a *second* node: the first with this id is an Up member (two that join in the same moment are both
      // Joining, and which of them is refused then depends on their addresses)
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.waitForUp(n, 3, Duration.ofSeconds(30));
      }

      int gossip = PostgresServer.freePort();
      Map<String, String> env = new java.util.HashMap<>();
      env.put("PMM_HA_ENABLE", "1");
      env.put("PMM_HA_NODE_ID", victim.id());
      env.put("PMM_HA_ADVERTISE_ADDRESS", "127.0.0.1");
      env.put("PMM_HA_BIND_ADDRESS", "127.0.0.1");
      env.put("PMM_HA_GOSSIP_PORT", String.valueOf(gossip));
      env.put("PMM_HA_RAFT_PORT", String.valueOf(PostgresServer.freePort()));
      env.put("PMM_HA_HTTP_PORT", String.valueOf(PostgresServer.freePort()));
      env.put("PMM_HA_PROBE_PORT", String.valueOf(PostgresServer.freePort()));
      env.put("PMM_HA_PEERS", "127.0.0.1:" + gossip);
      env.put("PMM_HA_STORE_URL", db);
      env.put("PMM_POSTGRES_USERNAME", pg.user());
      env.put("PMM_POSTGRES_DBPASSWORD", pg.password());
      PmmHaNode impostor = PmmHaNode.start(PmmHaConfig.load(env), PmmHaNode.Formation.MANUAL);
      var seed = org.apache.pekko.cluster.typed.Cluster.get(leader.node().system()).selfMember().address();
      org.apache.pekko.cluster.typed.Cluster.get(impostor.system()).manager()
          .tell(org.apache.pekko.cluster.typed.Join.create(seed));
      impostor.system().getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
      var reason = org.apache.pekko.actor.CoordinatedShutdown.get(impostor.system()).getShutdownReason();
      assertTrue(reason.isPresent(), "the impostor was stopped");
      assertEquals(2, Main.exitCode(reason.get(), org.slf4j.LoggerFactory.getLogger("test")),
          "refused as a configuration error (or downed): " + reason.get());

      assertEquals(List.of(leader.id()), c.leaders().stream().map(LocalCluster.Node::id).toList());
      assertEquals(epoch, c.json(leader, "/v1/ha/leader").get("epoch").asLong());
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.eventually(Duration.ofSeconds(10), () -> {
          var nodes = c.json(n, "/v1/ha/nodes").get("nodes");
          long alive = 0;
          for (var e : nodes) {
            alive += e.get("status").asText().equals("alive") ? 1 : 0;
          }
          return alive == 3 ? true : null;
        }, n.id() + " sees the three real members alive");
      }
    }
  }
}
