package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.runtime.WithPostgres;
import dev.pmmha.testkit.TcpProxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A leader that cannot reach the store steps aside when most of the cluster can (each node reaches PostgreSQL
 * through its own proxy, and only the leader's is cut), and stays when nobody can.
 */
@Tag("integration")
class StepAsideIT extends WithPostgres {

  final Map<String, TcpProxy> proxies = new HashMap<>();

  @AfterEach
  void closeProxies() {
    proxies.values().forEach(TcpProxy::close);
  }

  LocalCluster cluster() {
    String db = pg.createDatabase();
    for (int i = 1; i <= 3; i++) {
      proxies.put("node-" + i, new TcpProxy("127.0.0.1", pg.port()));
    }
    String path = db.substring(db.indexOf('/', "jdbc:postgresql://".length()));
    return LocalCluster.start(3, pg, db,
        id -> Map.of("PMM_HA_STORE_URL", "jdbc:postgresql://127.0.0.1:" + proxies.get(id).port() + path),
        com.typesafe.config.ConfigFactory.empty());
  }

  /** Waits until every node sees three members Up and one leads; returns the leader. */
  static LocalCluster.Node formed(LocalCluster c) {
    for (LocalCluster.Node n : c.running()) {
      LocalCluster.waitForUp(n, 3, Duration.ofSeconds(60));
    }
    return c.waitForLeader(Duration.ofSeconds(60));
  }

  /** Checks every 50 ms that at most one node answers 200, until {@code until} holds; returns how long it took. */
  static long waitSafely(LocalCluster c, Duration timeout, java.util.function.BooleanSupplier until) throws Exception {
    long start = System.nanoTime();
    while (!until.getAsBoolean()) {
      assertTrue(c.leaders().size() <= 1, "two nodes answer 200: " + c.leaders());
      assertTrue(System.nanoTime() - start < timeout.toNanos(), "not within " + timeout);
      Thread.sleep(50);
    }
    return (System.nanoTime() - start) / 1_000_000;
  }

  @Test
  void theLeaderCutFromTheStoreStepsAsideAndAnotherNodeLeads() throws Exception {
    stepsAside(TcpProxy::cut, "refused");
  }

  /** Packets dropped rather than refused: the leader's store requests hang instead of failing. */
  @Test
  void theLeaderWhoseStoreRequestsHangStepsAsideToo() throws Exception {
    stepsAside(TcpProxy::freeze, "hanging");
  }

  private void stepsAside(java.util.function.Consumer<TcpProxy> breakLink, String how) throws Exception {
    try (LocalCluster c = cluster()) {
      LocalCluster.Node leader = formed(c);
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.eventually(Duration.ofSeconds(30), () -> LocalCluster.status(n, "GET", "/v1/readyz") == 200 ? true : null,
            n.id() + " ready");
      }
      Thread.sleep(2000); // every node has told the others it reaches the store
      breakLink.accept(proxies.get(leader.id()));
      List<LocalCluster.Node> others = new ArrayList<>(c.running());
      others.remove(leader);
      long ms = waitSafely(c, Duration.ofSeconds(30),
          () -> others.stream().anyMatch(n -> LocalCluster.status(n, "POST", "/v1/leaderHealthCheck") == 200));
      // LocalCluster's lease TTL is 3 s; its crash failover about as long
      assertTrue(ms < 2 * 3_000 + 6_000, "another node serves 200 within 2 x the lease TTL + a crash failover: " + ms + " ms");
      System.out.printf("StepAsideIT: another node leads %d ms after the leader's link to the store was cut (%s)%n", ms,
          how);
      var system = leader.node().system();
      long waited = System.nanoTime();
      try {
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        // what it waits on: a shutdown step blocked on the dead link
        java.util.Arrays.stream(java.lang.management.ManagementFactory.getThreadMXBean().dumpAllThreads(true, true))
            .forEach(System.out::print);
        throw e;
      }
      System.out.printf("StepAsideIT: the stepped-aside node terminated %d ms later%n",
          (System.nanoTime() - waited) / 1_000_000);
      assertEquals(CoordinatedShutdown.clusterDowningReason(),
          CoordinatedShutdown.get(system).getShutdownReason().orElse(null), "it downed itself");
      assertTrue(leader.node().state().steppingAside(), "as stepping aside");
      LocalCluster.Node next = c.running().stream().filter(n -> n != leader)
          .filter(n -> LocalCluster.status(n, "POST", "/v1/leaderHealthCheck") == 200).findFirst().orElseThrow();
      assertNotEquals(leader.id(), next.id());
    }
  }

  @Test
  void withTheStoreDownForEveryoneNothingMoves() throws Exception {
    try (LocalCluster c = cluster()) {
      LocalCluster.Node leader = formed(c);
      Thread.sleep(2000);
      proxies.values().forEach(TcpProxy::cut);
      long end = System.nanoTime() + Duration.ofSeconds(12).toNanos(); // four lease TTLs
      while (System.nanoTime() < end) {
        for (LocalCluster.Node n : c.running()) {
          assertTrue(!n.node().system().whenTerminated().isCompleted(), n.id() + " left the cluster");
        }
        Thread.sleep(200);
      }
      proxies.values().forEach(TcpProxy::heal);
      assertEquals(leader.id(), c.waitForLeader(Duration.ofSeconds(60)).id(), "the same node leads again");
    }
  }
}
