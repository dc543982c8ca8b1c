package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.testkit.PostgresServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * The whole cluster stopped at once (docker compose down, the quick start's Ctrl-C, a namespace deletion): every
 * node gets SIGTERM together and must exit 0 within {@link #BOUND}, also the last leader, whose singleton has no
 * one left to hand over to. Real {@code java -jar} nodes on 127.0.0.61-63 and a real PostgreSQL.
 */
@Tag("integration")
public class ClusterStopIT extends WithPostgres {

  static final String[] IPS = {"127.0.0.61", "127.0.0.62", "127.0.0.63"};
  static final Duration BOUND = Duration.ofSeconds(10);
  final List<NodeProcess> nodes = new ArrayList<>();

  @AfterEach
  void stopNodes() {
    nodes.forEach(NodeProcess::close);
  }

  /** Starts the three nodes 1 s apart (three cold JVMs at once on a loaded machine delay the formation). */
  void startCluster(TestInfo info) throws InterruptedException {
    String db = pg.createDatabase();
    int gossip = PostgresServer.freePort();
    int raft = PostgresServer.freePort();
    int http = PostgresServer.freePort();
    Path logs = Path.of("target", "it-logs", "ClusterStopIT-" + info.getTestMethod().orElseThrow().getName());
    for (int i = 0; i < IPS.length; i++) {
      String id = "pmm-" + (i + 1);
      nodes.add(new NodeProcess(id, IPS[i], http, nodeEnv(id, IPS[i], IPS, gossip, raft, http, db), logs).start());
      Thread.sleep(1000);
    }
  }

  /**
   * Waits until every node of {@code among} is ready, lists them all alive, and one of them leads. A node that
   * exits 4 or 5 meanwhile (downed by a false suspicion while three cold JVMs start on a loaded machine) is
   * started again, as its supervisor would; the stop under test begins from a formed cluster.
   */
  void waitForFormed(List<NodeProcess> among, Duration timeout) {
    LocalCluster.eventually(timeout, () -> {
      for (NodeProcess n : among) {
        if (!n.alive()) {
          int code = n.waitExit(Duration.ZERO);
          if (code != Main.EXIT_DOWNED && code != Main.EXIT_JOIN_TIMEOUT) {
            throw new AssertionError(n.name + " exited " + code + " while the cluster formed; log " + n.log());
          }
          System.out.printf("ClusterStopIT: %s exited %d while the cluster formed; starting it again%n", n.name, code);
          n.start();
          return null;
        }
      }
      for (NodeProcess n : among) {
        if (n.status("GET", "/v1/readyz") != 200 || aliveMembers(n) != among.size()) {
          return null;
        }
      }
      return among.stream().filter(NodeProcess::isLeader).count() == 1 ? true : null;
    }, among + " formed, each ready with " + among.size() + " alive members, one leader");
  }

  /** How many members {@code n} lists alive, or -1 when it does not answer. */
  static long aliveMembers(NodeProcess n) {
    try {
      return ProcessClusterIT.JSON.readTree(n.body("/v1/ha/nodes")).path("nodes").findValuesAsText("status").stream()
          .filter("alive"::equals).count();
    } catch (Exception e) {
      return -1;
    }
  }

  NodeProcess waitForSingleLeader(List<NodeProcess> among, Duration timeout) {
    return LocalCluster.eventually(timeout, () -> {
      List<NodeProcess> l = among.stream().filter(NodeProcess::isLeader).toList();
      return l.size() == 1 ? l.get(0) : null;
    }, "exactly one node answering 200 among " + among);
  }

  /** SIGTERM to every node of {@code stopped} at once; asserts each exits 0 within {@link #BOUND}. */
  static void stopTogether(List<NodeProcess> stopped) throws Exception {
    double load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    List<CompletableFuture<String>> results = new ArrayList<>();
    long t0 = System.nanoTime();
    for (NodeProcess n : stopped) {
      n.sigterm();
    }
    for (NodeProcess n : stopped) {
      results.add(n.exited().thenApply(code -> n.name + " " + code + " " + (System.nanoTime() - t0) / 1_000_000));
    }
    List<String> failures = new ArrayList<>();
    for (int i = 0; i < stopped.size(); i++) {
      NodeProcess n = stopped.get(i);
      String line;
      try {
        // waited past the bound, so that the report shows how long a slow node really took
        line = results.get(i).get(60, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        failures.add(n.name + " still running 60 s after SIGTERM; log " + n.log());
        continue;
      }
      String[] f = line.split(" ");
      int code = Integer.parseInt(f[1]);
      long ms = Long.parseLong(f[2]);
      System.out.printf("ClusterStopIT: %s exited %d after %d ms (load average %.1f)%n", n.name, code, ms, load);
      if (code != 0) {
        failures.add(n.name + " exited " + code + "; log " + n.log());
      }
      if (ms > BOUND.toMillis()) {
        failures.add(n.name + " took " + ms + " ms, more than " + BOUND.toMillis() + " ms; log " + n.log());
      }
    }
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  @Test
  void threeNodesStoppedTogetherAllExit0Within10s(TestInfo info) throws Exception {
    startCluster(info);
    waitForFormed(nodes, Duration.ofSeconds(150));
    stopTogether(nodes);
  }

  @Test
  void twoNodesLeftAfterAFailoverStoppedTogetherExit0Within10s(TestInfo info) throws Exception {
    startCluster(info);
    waitForFormed(nodes, Duration.ofSeconds(150));
    NodeProcess leader = waitForSingleLeader(nodes, Duration.ofSeconds(10));
    leader.kill9();
    List<NodeProcess> left = nodes.stream().filter(n -> n != leader).toList();
    NodeProcess next = waitForSingleLeader(left, Duration.ofSeconds(60));
    assertNotEquals(leader, next);
    for (NodeProcess n : left) {
      ProcessClusterIT.waitForMember(n, 2, Duration.ofSeconds(60));
    }
    stopTogether(left);
  }
}
