package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.runtime.NodeProcess;
import dev.pmmha.runtime.WithPostgres;
import dev.pmmha.testkit.PostgresServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The warm-standby contract (PMM_HA_ROLE_FILE) with the reference consumer deploy/pmm/role-consumer beside each
 * of three real node processes: a consumer acts only within its lease when its pmm-ha is frozen (SIGSTOP) and
 * when the leader is cut from PostgreSQL, and no two consumers ever act in overlapping leaderships.
 */
@Tag("integration")
class RoleFileIT extends WithPostgres {

  static final String[] IPS = {"127.0.0.41", "127.0.0.42", "127.0.0.43"};
  /**
   * The role file's lease beyond the node's right to act: safety margin 500 ms less the 100 ms guard. Right after
   * a renewal the right runs TTL less margin (1.5 s) ahead, so a lease written then ends about 1.9 s later. The
   * nodes run this 2 s / 250 ms / 500 ms lease (set below, not the shorter default) so that the consumer's ride
   * through a freeze is long enough to tell from its polling.
   */
  static final long LEASE_MS = 400;
  /** The consumer's own guard (ROLE_CONSUMER_GUARD_MS default). */
  static final long CONSUMER_GUARD_MS = 100;
  static final long FENCE_TTL_MS = 2_000;

  record Act(String node, long atMs, long epoch) {}

  @Test
  void consumersActOnlyWithinTheirLeaseThroughAFrozenLeaderAndAStoreOutage(@TempDir Path dir) throws Exception {
    String db = pg.createDatabase();
    int gossip = PostgresServer.freePort();
    int raft = PostgresServer.freePort();
    int http = PostgresServer.freePort();
    Path logs = Path.of("target", "it-logs", "RoleFileIT");
    List<NodeProcess> nodes = new ArrayList<>();
    List<Process> consumers = new ArrayList<>();
    Map<String, Path> actLogs = new HashMap<>();
    NodeProcess frozen = null;
    boolean storeDown = false;
    try {
      for (int i = 0; i < 3; i++) {
        String id = "pmm-" + (i + 1);
        Map<String, String> env = new HashMap<>(nodeEnv(id, IPS[i], IPS, gossip, raft, http, db));
        Path role = dir.resolve("role-" + id);
        env.put("PMM_HA_ROLE_FILE", role.toString());
        env.put("PMM_HA_LEASE_TTL", FENCE_TTL_MS + "ms");
        env.put("PMM_HA_LEASE_RENEW_INTERVAL", "250ms");
        env.put("PMM_HA_LEASE_SAFETY_MARGIN", "500ms"); // LEASE_MS + the role file guard (100 ms)
        nodes.add(new NodeProcess(id, IPS[i], http, env, logs).start());
        Path actLog = dir.resolve("acts-" + id);
        actLogs.put(id, actLog);
        consumers.add(new ProcessBuilder("sh", "../deploy/pmm/role-consumer", role.toString(), actLog.toString())
            .redirectErrorStream(true).redirectOutput(logs.resolve("consumer-" + id + ".log").toFile()).start());
      }
      NodeProcess first = waitForSingleLeader(nodes, Duration.ofSeconds(90));
      // a formed cluster before the freeze: with a member still Joining, the frozen leader cannot move it to Up
      // and the split brain resolver downs everyone (CI saw it once)
      for (NodeProcess n : nodes) {
        dev.pmmha.runtime.ProcessClusterIT.waitForMember(n, 3, Duration.ofSeconds(90));
      }
      long e1 = LocalCluster.eventually(Duration.ofSeconds(10), () -> lastEpoch(actLogs.get(first.name)),
          "the consumer beside " + first + " acts");

      // 1. pmm-ha frozen: its file is no longer renewed, so its consumer stops within the file's lease, which ends
      // before the fence can pass (TTL less the guard) but rides out the first LEASE_MS of the stall
      signal("STOP", first.pid());
      frozen = first;
      long frozenAt = System.currentTimeMillis();
      NodeProcess second = waitForSingleLeader(nodes.stream().filter(n -> n != first).toList(), Duration.ofSeconds(30));
      long e2 = LocalCluster.eventually(Duration.ofSeconds(10), () -> {
        Long e = lastEpoch(actLogs.get(second.name));
        return e != null && e > e1 ? e : null;
      }, "the consumer beside " + second + " acts in a newer epoch");
      long last1 = acts(actLogs).stream().filter(a -> a.node.equals(first.name)).mapToLong(Act::atMs).max().orElseThrow();
      long first2 = acts(actLogs).stream().filter(a -> a.epoch == e2).mapToLong(Act::atMs).min().orElseThrow();
      assertTrue(last1 < frozenAt + FENCE_TTL_MS - CONSUMER_GUARD_MS, "the consumer beside the frozen " + first
          + " acted " + (last1 - frozenAt) + " ms after the freeze, when the fence may already pass");
      assertTrue(last1 > frozenAt + LEASE_MS, "the consumer beside the frozen " + first + " stopped "
          + (last1 - frozenAt) + " ms after the freeze: the file's lease should reach past the node's right to act");
      assertTrue(last1 < first2, "the old leader's consumer stopped before the new one started");
      signal("CONT", first.pid());
      frozen = null;
      Thread.sleep(3_000); // the thawed node finds itself downed; its stale lease must not make its consumer act
      long lastAfterThaw = acts(actLogs).stream().filter(a -> a.node.equals(first.name)).mapToLong(Act::atMs).max()
          .orElseThrow();
      assertEquals(last1, lastAfterThaw, "the thawed node's consumer stays idle");

      // 2. the store cut off: renewals fail, the file's lease is not renewed past the node's own right to act
      storeDown = true;
      pg.stopServer();
      long cutAt = System.currentTimeMillis();
      Thread.sleep(FENCE_TTL_MS + 2_000);
      long last2 = acts(actLogs).stream().filter(a -> a.epoch == e2).mapToLong(Act::atMs).max().orElseThrow();
      long anyLast = acts(actLogs).stream().mapToLong(Act::atMs).max().orElseThrow();
      assertTrue(last2 < cutAt + FENCE_TTL_MS - CONSUMER_GUARD_MS, "the consumer beside " + second + " acted "
          + (last2 - cutAt) + " ms after the store went down, when the fence may already pass to another node");
      assertEquals(last2, anyLast, "no consumer acts while the store is down");

      pg.startServer();
      storeDown = false;
      long back = System.currentTimeMillis();
      NodeProcess third = waitForSingleLeader(nodes.stream().filter(NodeProcess::alive).toList(), Duration.ofSeconds(30));
      long e3 = LocalCluster.eventually(Duration.ofSeconds(10), () -> {
        Long e = lastEpoch(actLogs.get(third.name));
        return e != null && e > e2 ? e : null;
      }, "the consumer beside " + third + " acts again after the outage");
      long first3 = acts(actLogs).stream().filter(a -> a.epoch == e3).mapToLong(Act::atMs).min().orElseThrow();

      // never two at once: every act of an older epoch comes before every act of a newer one, and one epoch's
      // acts all come from one node
      List<Act> all = acts(actLogs);
      for (Act a : all) {
        for (Act b : all) {
          if (a.epoch < b.epoch) {
            assertTrue(a.atMs < b.atMs, "epoch " + a.epoch + " on " + a.node + " acted at " + a.atMs
                + ", after epoch " + b.epoch + " on " + b.node + " acted at " + b.atMs);
          } else if (a.epoch == b.epoch) {
            assertEquals(a.node, b.node, "epoch " + a.epoch + " acted on two nodes");
          }
        }
      }
      System.out.printf("role file: frozen leader's consumer stopped %d ms after the freeze (lease %d ms past the right to act), the next "
              + "acted %d ms after it; cut from the store, it stopped %d ms after the cut; after the store returned "
              + "a consumer acted again %d ms later%n",
          last1 - frozenAt, LEASE_MS, first2 - last1, last2 - cutAt, first3 - back);
    } finally {
      if (frozen != null) {
        signal("CONT", frozen.pid());
      }
      // each consumer logs its stop on SIGTERM: wait for it, or the temp directory's removal races that write
      for (Process consumer : consumers) {
        consumer.destroy();
        if (!consumer.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
          consumer.destroyForcibly().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
        }
      }
      nodes.forEach(NodeProcess::close);
      if (storeDown) {
        pg.startServer();
      }
    }
  }

  static NodeProcess waitForSingleLeader(List<NodeProcess> among, Duration timeout) {
    return LocalCluster.eventually(timeout, () -> {
      List<NodeProcess> l = among.stream().filter(NodeProcess::alive).filter(NodeProcess::isLeader).toList();
      return l.size() == 1 ? l.get(0) : null;
    }, "exactly one node answering 200 among " + among);
  }

  static void signal(String sig, long pid) throws IOException, InterruptedException {
    int code = new ProcessBuilder("kill", "-" + sig, String.valueOf(pid)).inheritIO().start().waitFor();
    assertEquals(0, code, "kill -" + sig + " " + pid);
  }

  static Long lastEpoch(Path actLog) {
    List<Act> a = acts(Map.of("x", actLog));
    return a.isEmpty() ? null : a.get(a.size() - 1).epoch;
  }

  /** The "act" lines of every consumer log. */
  static List<Act> acts(Map<String, Path> logs) {
    List<Act> out = new ArrayList<>();
    logs.forEach((node, file) -> {
      if (!Files.exists(file)) {
        return;
      }
      try {
        for (String line : Files.readAllLines(file)) {
          String[] f = line.split(" ");
          if (f.length >= 3 && f[0].equals("act") && f[2].startsWith("epoch=")) {
            out.add(new Act(node, Long.parseLong(f[1]), Long.parseLong(f[2].substring(6))));
          }
        }
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    });
    return out;
  }
}
