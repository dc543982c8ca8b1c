package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.testkit.PostgresServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Three real {@code java -jar} nodes on loopback addresses 127.0.0.21-23 with the same ports, on a real
 * PostgreSQL, formed by Cluster Bootstrap from PMM_HA_PEERS as in production.
 */
@Tag("integration")
public class ProcessClusterIT extends WithPostgres {

  static final ObjectMapper JSON = new ObjectMapper();
  static final String[] IPS = {"127.0.0.21", "127.0.0.22", "127.0.0.23"};
  final List<NodeProcess> nodes = new ArrayList<>();
  int probePort;


  @AfterEach
  void stopNodes() {
    nodes.forEach(NodeProcess::close);
  }

  List<NodeProcess> cluster(TestInfo info) {
    String db = pg.createDatabase();
    int gossip = PostgresServer.freePort();
    int raft = PostgresServer.freePort();
    int http = PostgresServer.freePort();
    Path logs = Path.of("target", "it-logs", info.getTestMethod().orElseThrow().getName());
    probePort = PostgresServer.freePort();
    for (int i = 0; i < 3; i++) {
      Map<String, String> env = new HashMap<>(nodeEnv("pmm-" + (i + 1), IPS[i], IPS, gossip, raft, http, db));
      env.put("PMM_HA_PROBE_PORT", String.valueOf(probePort));
      nodes.add(new NodeProcess("pmm-" + (i + 1), IPS[i], http, env, logs));
    }
    return nodes;
  }

  NodeProcess waitForSingleLeader(Duration timeout) {
    return NodeProcess.singleLeader(nodes, timeout);
  }

  void assertOnlyLeaderFor(NodeProcess leader, Duration d) throws InterruptedException {
    long end = System.nanoTime() + d.toNanos();
    while (System.nanoTime() < end) {
      for (NodeProcess n : nodes) {
        if (n.alive()) {
          assertEquals(n == leader, n.isLeader(), n + (n == leader ? " must lead" : " must not answer 200"));
        }
      }
      Thread.sleep(100);
    }
  }

  static JsonNode json(NodeProcess n, String path) {
    try {
      return JSON.readTree(n.body(path));
    } catch (Exception e) {
      throw new AssertionError(path + " on " + n + ": " + e);
    }
  }

  static long epoch(NodeProcess n) {
    return json(n, "/v1/ha/leader").get("epoch").asLong();
  }

  /** Waits until {@code n} is Up, ready, and lists {@code alive} members that all agree on the leader. */
  public static void waitForMember(NodeProcess n, int alive, Duration timeout) {
    LocalCluster.eventually(timeout, () -> {
      if (n.status("GET", "/v1/readyz") != 200) {
        return null;
      }
      JsonNode nodes = json(n, "/v1/ha/nodes").path("nodes");
      int count = 0;
      for (JsonNode e : nodes) {
        if (e.path("status").asText().equals("alive")) {
          count++;
        }
      }
      return count == alive ? true : null;
    }, n + " ready with " + alive + " alive members");
  }

  @Test
  void startOrder123_crashOfTheLeaderMovesIt_andTheRestartedNodeRejoinsAsFollower(TestInfo info) throws Exception {
    cluster(info);
    for (NodeProcess n : nodes) {
      n.start();
      Thread.sleep(1000);
    }
    NodeProcess leader = waitForSingleLeader(Duration.ofSeconds(90));
    // a crash of the leader of a formed cluster: while the others are still Joining, the leader is the only Up
    // member and its loss leaves no majority (the split brain resolver then downs them, correctly)
    for (NodeProcess n : nodes) {
      waitForMember(n, 3, Duration.ofSeconds(90));
    }
    assertOnlyLeaderFor(leader, Duration.ofSeconds(2));
    long epoch = epoch(leader);

    leader.kill9();
    NodeProcess next = waitForSingleLeader(Duration.ofSeconds(120));
    assertNotEquals(leader, next);
    long nextEpoch = epoch(next);
    assertTrue(nextEpoch > epoch, nextEpoch + " > " + epoch);

    leader.start();
    waitForMember(leader, 3, Duration.ofSeconds(90));
    assertOnlyLeaderFor(next, Duration.ofSeconds(2));
    assertEquals(nextEpoch, epoch(next), "a rejoining node does not disturb the leader");
    assertEquals(next.name, json(leader, "/v1/ha/leader").get("node_id").asText(), "the rejoined node knows the leader");
    assertEquals(503, leader.status("GET", "/v1/server/leaderHealthCheck"));
  }

  @Test
  void startOrder321_formsOneClusterWithOneLeader(TestInfo info) throws Exception {
    cluster(info);
    for (int i = 2; i >= 0; i--) {
      nodes.get(i).start();
      Thread.sleep(1000);
    }
    NodeProcess leader = waitForSingleLeader(Duration.ofSeconds(90));
    for (NodeProcess n : nodes) {
      waitForMember(n, 3, Duration.ofSeconds(60));
    }
    assertOnlyLeaderFor(leader, Duration.ofSeconds(2));
    // the probe port (PMM_HA_PROBE_PORT) answers as the API port does, on every node
    var client = java.net.http.HttpClient.newHttpClient();
    for (NodeProcess n : nodes) {
      var probe = client.send(java.net.http.HttpRequest.newBuilder(
              java.net.URI.create("http://" + n.ip + ":" + probePort + "/v1/leaderHealthCheck"))
          .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString());
      assertEquals(n == leader ? 200 : 503, probe.statusCode(), n + " on the probe port: " + probe.body());
      if (n == leader) {
        assertEquals(String.valueOf(epoch(leader)), probe.headers().firstValue("X-PMM-HA-Epoch").orElse(""));
      }
    }
  }

  @Test
  void aNodeStartedAfterTheOthersFormedTheClusterJoinsIt(TestInfo info) throws Exception {
    cluster(info);
    nodes.get(0).start();
    nodes.get(1).start();
    NodeProcess leader = waitForSingleLeader(Duration.ofSeconds(90));
    waitForMember(nodes.get(0), 2, Duration.ofSeconds(30));
    long epoch = epoch(leader);

    NodeProcess late = nodes.get(2).start();
    waitForMember(late, 3, Duration.ofSeconds(90));
    assertOnlyLeaderFor(leader, Duration.ofSeconds(2));
    assertEquals(epoch, epoch(leader));

    // SIGTERM of the leader: a graceful hand-over, and the process exits on its own
    int code = leader.term(Duration.ofSeconds(30));
    assertEquals(0, code, "a graceful stop exits 0");
    NodeProcess next = waitForSingleLeader(Duration.ofSeconds(120));
    assertNotEquals(leader, next);
    assertTrue(epoch(next) > epoch);
  }

  /**
   * A node left alone in a cluster of its own beside the cluster that leads, as one-way ring drops leave one when
   * the split brain resolver downs its peers one at a time: two stray nodes that only know each other form a
   * cluster, one is killed, the other (the lower address, kept by keep-majority's tie rule) downs it and is alone.
   * It sees a non-member renew the fence, so after the cut-off patience it exits 4 (its supervisor restarts it
   * and it joins the others); the leader is untouched.
   */
  @Test
  void aNodeCutOffInAClusterOfItsOwnExitsToRejoin(TestInfo info) throws Exception {
    List<NodeProcess> three = cluster(info);
    // What is checked is that the strays leave the leader alone, not how short a lease rides out five JVMs on two
    // cores: with the default lease (600 ms, a step-down after about 300 ms without the store's answer) CI's clean
    // clone once saw the leader's own renewal miss while the two strays started, and the leader took the fence
    // again as epoch 2. The strays copy these settings, so the cut-off path is the same as with the defaults.
    for (NodeProcess n : three) {
      n.env().put("PMM_HA_LEASE_TTL", "3s");
      n.env().put("PMM_HA_LEASE_RENEW_INTERVAL", "500ms");
      n.env().put("PMM_HA_LEASE_SAFETY_MARGIN", "1s");
    }
    three.forEach(NodeProcess::start);
    waitForSingleLeader(Duration.ofSeconds(90));
    // What is measured is the strays' effect on the leader, so the epoch is taken once the three nodes' own start
    // is over: CI's clean clone saw the first leader step down 3 s after its election, its lease not renewed while
    // three JVMs started at once on two cores, and lead again with epoch 2, before any stray had started.
    for (NodeProcess n : three) {
      waitForMember(n, 3, Duration.ofSeconds(90));
    }
    NodeProcess leader = waitForSingleLeader(Duration.ofSeconds(30));
    long epoch = epoch(leader);

    String[] strayIps = {"127.0.0.19", "127.0.0.20"};
    Path logs = Path.of("target", "it-logs", info.getTestMethod().orElseThrow().getName());
    List<NodeProcess> strays = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      Map<String, String> env = new HashMap<>(three.get(0).env());
      String name = i == 0 ? "pmm-stray" : "pmm-helper";
      env.put("PMM_HA_NODE_ID", name);
      env.put("PMM_HA_ADVERTISE_ADDRESS", strayIps[i]);
      env.put("PMM_HA_BIND_ADDRESS", strayIps[i]);
      env.put("PMM_HA_PEERS", String.join(",", strayIps));
      env.put("PMM_HA_EXPECTED_NODES", "3");
      NodeProcess n = new NodeProcess(name, strayIps[i], three.get(0).httpPort, env, logs);
      nodes.add(n);
      strays.add(n.start());
    }
    NodeProcess stray = strays.get(0);
    waitForMember(stray, 2, Duration.ofSeconds(90));
    assertEquals(200, stray.status("GET", "/v1/readyz"), "the strays formed their own cluster");
    strays.get(1).kill9();

    int code = stray.waitExit(Duration.ofSeconds(90));
    assertEquals(4, code, "exit 4: restart me; log " + stray.log());
    String log = java.nio.file.Files.readString(stray.log());
    assertTrue(log.contains("CUT OFF: node pmm-stray is in a cluster of 1 of the 3 expected nodes while " + leader.name),
        "says why: " + stray.log());
    for (NodeProcess n : strays) {
      String strayLog = java.nio.file.Files.readString(n.log());
      assertFalse(strayLog.contains("fence taken") || strayLog.contains("fence handed over")
              || strayLog.contains("ROLE leader"),
          n.name + " never took the fence: " + n.log());
    }
    assertOnlyLeaderFor(leader, Duration.ofSeconds(2));
    assertEquals(epoch, epoch(leader), "the leader was never disturbed; log " + leader.log());
  }
}
