package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.pmmha.runtime.FlakyService;
import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.runtime.RecordingService;
import dev.pmmha.runtime.WithPostgres;
import dev.pmmha.testkit.PostgresServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Leader services, the role-change hook and cluster-wide settings, on three in-JVM nodes and real PostgreSQL. */
@Tag("integration")
class LeaderDutiesIT extends WithPostgres {


  static final Config SERVICES = ConfigFactory.parseString("""
      pmm-ha.leader {
        service-min-backoff = 200ms
        service-max-backoff = 2s
        services = [
          { name = flaky, class = "dev.pmmha.runtime.FlakyService" }
          { name = recorder, class = "dev.pmmha.runtime.RecordingService" }
        ]
      }
      """);

  static List<RecordingService.Call> calls(String what, String node) {
    return RecordingService.CALLS.stream().filter(c -> c.what().equals(what) && c.nodeId().equals(node)).toList();
  }

  static long epoch(LocalCluster c, LocalCluster.Node n) {
    return c.json(n, "/v1/ha/leader").get("epoch").asLong();
  }

  @Test
  void servicesStartAndStopOncePerLeadershipAndTheHookSeesEveryChangeInOrder(@TempDir Path dir) throws Exception {
    Path hook = dir.resolve("on-role-change.sh");
    Files.writeString(hook, "#!/bin/sh\necho \"$1 $2 $3\" >> \"" + dir + "/roles-$3.log\"\n");
    Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwxr-xr-x"));
    RecordingService.CALLS.clear();
    FlakyService.ATTEMPTS.clear();
    FlakyService.STARTED.clear();

    try (LocalCluster c = LocalCluster.start(3, pg, pg.createDatabase(),
        id -> Map.of("PMM_HA_ON_ROLE_CHANGE", hook.toString()), SERVICES)) {
      LocalCluster.Node first = c.waitForLeader(Duration.ofSeconds(60));
      long e1 = epoch(c, first);
      LocalCluster.eventually(Duration.ofSeconds(10), () -> calls("start", first.id()).size() == 1 ? true : null,
          "the recorder started on " + first.id());
      // the failing service is retried with growing backoff, and did not hold the recorder up
      LocalCluster.eventually(Duration.ofSeconds(15), () -> FlakyService.STARTED.size() == 1 ? true : null,
          "the flaky service started after its failures");
      List<Long> a = FlakyService.ATTEMPTS;
      assertEquals(4, a.size(), "three failures, then success");
      long gap1 = a.get(2) - a.get(1);
      long gap2 = a.get(3) - a.get(2);
      assertTrue(a.get(1) - a.get(0) >= 150_000_000L, "first retry after the minimum backoff");
      assertTrue(gap2 > gap1, "backoff grows: " + gap1 / 1_000_000 + " ms then " + gap2 / 1_000_000 + " ms");
      assertTrue(calls("start", first.id()).get(0).atNanos() < FlakyService.STARTED.get(0),
          "a failing service does not block the ones after it");

      c.leave(first);
      LocalCluster.Node second = c.waitForLeader(Duration.ofSeconds(30));
      long e2 = epoch(c, second);
      LocalCluster.eventually(Duration.ofSeconds(10), () -> calls("start", second.id()).size() == 1 ? true : null,
          "the recorder started on " + second.id());

      LocalCluster.Node third = c.running().stream().filter(n -> n != second).findFirst().orElseThrow();
      c.down(second, third);
      c.waitForLeader(Duration.ofSeconds(30));
      long e3 = epoch(c, third);
      LocalCluster.eventually(Duration.ofSeconds(10), () -> calls("start", third.id()).size() == 1 ? true : null,
          "the recorder started on " + third.id());

      // exactly one start and one stop per leadership, in epoch order, each stop before the next start
      List<String> log = RecordingService.CALLS.stream().map(x -> x.what() + " " + x.nodeId() + " " + x.epoch()).toList();
      assertEquals(List.of(
          "start " + first.id() + " " + e1, "stop " + first.id() + " " + e1,
          "start " + second.id() + " " + e2, "stop " + second.id() + " " + e2,
          "start " + third.id() + " " + e3), log);

      // the hook runs asynchronously: a downed node learns that it is down after the survivors elect its successor
      awaitHookLog(dir, first.id(), List.of("follower 0 " + first.id(), "leader " + e1 + " " + first.id(),
          "follower " + e1 + " " + first.id()));
      awaitHookLog(dir, second.id(), List.of("follower 0 " + second.id(), "leader " + e2 + " " + second.id(),
          "follower " + e2 + " " + second.id()));
      awaitHookLog(dir, third.id(), List.of("follower 0 " + third.id(), "leader " + e3 + " " + third.id()));
    }
  }

  static void awaitHookLog(Path dir, String node, List<String> expected) {
    Path file = dir.resolve("roles-" + node + ".log");
    try {
      LocalCluster.eventually(Duration.ofSeconds(10), () -> {
        try {
          return Files.readAllLines(file).equals(expected) ? true : null;
        } catch (java.io.IOException e) {
          return null;
        }
      }, "the hook of " + node);
    } catch (AssertionError e) {
      List<String> actual;
      try {
        actual = Files.readAllLines(file);
      } catch (java.io.IOException io) {
        actual = List.of("(unreadable: " + io.getMessage() + ")");
      }
      assertEquals(expected, actual, "the hook calls of " + node);
      throw e;
    }
  }

  @Test
  void settingsWrittenAnywhereAreReadEverywhereWithDistinctVersionsAndSurviveARestart() throws Exception {
    String db = pg.createDatabase();
    Map<String, Long> versions;
    try (LocalCluster c = LocalCluster.start(3, pg, db)) {
      LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(60));
      LocalCluster.Node follower = c.running().stream().filter(n -> n != leader).findFirst().orElseThrow();
      for (LocalCluster.Node n : c.running()) { // the leader's news reaches every node: the cluster is settled
        LocalCluster.eventually(Duration.ofSeconds(10),
            () -> c.json(n, "/v1/ha/leader").path("node_id").asText().equals(leader.id()) ? true : null,
            n.id() + " knows the leader");
      }

      var r = LocalCluster.put(follower, "/v1/ha/settings/alerting.enabled", "true");
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(String.valueOf(epoch(c, leader)), r.headers().firstValue("X-PMM-HA-Epoch").orElse(""));
      long acked = System.nanoTime();
      assertTrue(c.json(follower, "/v1/ha/settings/alerting.enabled").path("value").asBoolean(false),
          "the node that took the write reads it as soon as it has answered");
      List<CompletableFuture<Long>> seenAfter = new ArrayList<>();
      for (LocalCluster.Node n : c.running()) {
        seenAfter.add(CompletableFuture.supplyAsync(() -> {
          LocalCluster.eventually(Duration.ofSeconds(5),
              () -> c.json(n, "/v1/ha/settings/alerting.enabled").path("value").asBoolean(false) ? true : null,
              n.id() + " reads the write");
          return (System.nanoTime() - acked) / 1_000_000;
        }));
      }
      for (var f : seenAfter) {
        long ms = f.get();
        assertTrue(ms < 1000, "every node reads an acknowledged write within 1 s; took " + ms + " ms");
      }

      // concurrent writes from every node (the leader's too): all acknowledged, all with distinct versions, each
      // read back at once on the node that took it
      List<CompletableFuture<java.net.http.HttpResponse<String>>> writes = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        LocalCluster.Node via = c.running().get(i % 3);
        int k = i;
        writes.add(CompletableFuture.supplyAsync(() -> {
          var written = LocalCluster.put(via, "/v1/ha/settings/k" + k, "{\"n\":" + k + "}");
          if (written.statusCode() == 200) {
            try {
              assertEquals(k, c.json(via, "/v1/ha/settings/k" + k).path("value").path("n").asInt(-1),
                  via.id() + " reads k" + k + " as soon as it has answered the write");
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
          }
          return written;
        }));
      }
      Set<Long> seen = new HashSet<>();
      for (var w : writes) {
        var resp = w.get();
        assertEquals(200, resp.statusCode(), resp.body());
        assertTrue(seen.add(new com.fasterxml.jackson.databind.ObjectMapper().readTree(resp.body()).get("version").asLong()),
            "distinct versions");
      }
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.eventually(Duration.ofSeconds(2), () -> c.json(n, "/v1/ha/settings").get("settings").size() == 31 ? true : null,
            n.id() + " has all 31 settings");
      }
      versions = fieldVersions(c, c.running().get(0));
    }
    try (LocalCluster c = LocalCluster.start(3, pg, db)) {
      c.waitForLeader(Duration.ofSeconds(60));
      for (LocalCluster.Node n : c.running()) {
        LocalCluster.eventually(Duration.ofSeconds(5), () -> fieldVersions(c, n).equals(versions) ? true : null,
            n.id() + " has every setting after a full restart");
      }
    }
  }

  static Map<String, Long> fieldVersions(LocalCluster c, LocalCluster.Node n) {
    var settings = c.json(n, "/v1/ha/settings").get("settings");
    Map<String, Long> out = new java.util.TreeMap<>();
    settings.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().get("version").asLong()));
    return out;
  }
}
