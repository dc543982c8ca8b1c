package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.testkit.PostgresServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Switchover on three real nodes: refused with the reason when it cannot be done; to a chosen node (the youngest,
 * so that the two older ones step back first) over the API; to the next in line with the CLI. The nodes that step
 * back exit 0 and are started again here, as their supervisor would. A {@link LeaderWatch} probes every node
 * every 20 ms: no older leader answers 200 after a newer one has, and no epoch is answered by two nodes.
 */
@Tag("integration")
class SwitchoverIT extends WithPostgres {

  static final String[] IPS = {"127.0.0.37", "127.0.0.38", "127.0.0.39"};
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP = HttpClient.newHttpClient();
  final List<NodeProcess> nodes = new ArrayList<>();
  LeaderWatch watch;

  @AfterEach
  void stop() {
    if (watch != null) {
      watch.close();
    }
    nodes.forEach(NodeProcess::close);
  }

  NodeProcess node(String name) {
    return nodes.stream().filter(n -> n.name.equals(name)).findFirst().orElseThrow();
  }

  NodeProcess waitForSingleLeader(Duration timeout) {
    return NodeProcess.singleLeader(nodes, timeout);
  }

  static HttpResponse<String> switchover(NodeProcess via, String body) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(via.url("/v1/ha/switchover"))).timeout(Duration.ofSeconds(40))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  void assertRefused(NodeProcess via, String body, int status, String reason) throws Exception {
    HttpResponse<String> r = switchover(via, body);
    assertEquals(status, r.statusCode(), body + " -> " + r.body());
    assertTrue(JSON.readTree(r.body()).get("message").asText().contains(reason), body + " -> " + r.body());
  }

  int raft;

  /**
   * Waits until every running node sees three members Up (Pekko Management's /cluster/members): /v1/ha/nodes calls
   * a Joining or WeaklyUp member alive too, and a switchover counts only Up members.
   */
  void waitAllUp() {
    for (NodeProcess n : nodes) {
      LocalCluster.eventually(Duration.ofSeconds(60), () -> {
        try {
          var r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + IPS[nodes.indexOf(n)] + ":" + raft
              + "/cluster/members")).timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
          long up = 0;
          for (JsonNode m : JSON.readTree(r.body()).path("members")) {
            up += m.path("status").asText().equals("Up") ? 1 : 0;
          }
          return up == 3 ? true : null;
        } catch (Exception e) {
          return null;
        }
      }, n + " sees three members Up");
    }
  }

  /** The nodes that stepped back exit 0; started again, they rejoin as followers. */
  void restartSteppedBack(List<NodeProcess> steppedBack, NodeProcess leader) {
    for (NodeProcess n : steppedBack) {
      assertEquals(0, n.waitExit(Duration.ofSeconds(30)), n + " exits 0 after stepping back");
      n.start();
    }
    for (NodeProcess n : nodes) {
      ProcessClusterIT.waitForMember(n, 3, Duration.ofSeconds(90));
    }
    waitAllUp();
    assertEquals(leader, waitForSingleLeader(Duration.ofSeconds(10)), "the rejoined nodes follow");
  }

  @Test
  void refusedWithTheReasonThenToTheYoungestNodeOverTheApiThenToTheNextInLineWithTheCli() throws Exception {
    String db = pg.createDatabase();
    int gossip = PostgresServer.freePort();
    raft = PostgresServer.freePort();
    int http = PostgresServer.freePort();
    Path logs = Path.of("target", "it-logs", getClass().getSimpleName());
    for (int i = 0; i < 3; i++) {
      String name = "pmm-" + (i + 1);
      var env = nodeEnv(name, IPS[i], IPS, gossip, raft, http, db);
      env.putAll(settings());
      nodes.add(new NodeProcess(name, IPS[i], http, env, logs));
    }
    // 1 and 2 form the cluster (1, the lowest address, first: the oldest member), then 3 joins: the youngest
    node("pmm-1").start();
    node("pmm-2").start();
    ProcessClusterIT.waitForMember(node("pmm-2"), 2, Duration.ofSeconds(90));
    node("pmm-3").start();
    for (NodeProcess n : nodes) {
      ProcessClusterIT.waitForMember(n, 3, Duration.ofSeconds(90));
    }
    waitAllUp();
    NodeProcess leader = waitForSingleLeader(Duration.ofSeconds(60));
    assertEquals("pmm-1", leader.name);
    long epoch = JSON.readTree(leader.body("/v1/ha/leader")).get("epoch").asLong();
    watch = new LeaderWatch(() -> nodes.stream().filter(NodeProcess::alive).toList());

    // refused, nothing changes
    assertRefused(leader, "{\"candidate\":\"pmm-9\"}", 409, "pmm-9 is not an Up member");
    assertRefused(leader, "{\"candidate\":\"pmm-1\"}", 409, "is the leader already");
    assertRefused(node("pmm-2"), "{\"candidate\":\"pmm-3\"}", 409, "pmm-2 must step back");
    assertRefused(leader, "{\"candidate\":3}", 400, "candidate must be a node id");
    assertRefused(leader, "{\"to\":\"pmm-3\"}", 400, "unknown field \"to\"");
    assertRefused(leader, "[1", 400, "the body must be empty or a JSON object");
    assertEquals(leader, waitForSingleLeader(Duration.ofSeconds(5)));

    // to the youngest: pmm-2 steps back first, then pmm-1 hands over to pmm-3
    long start = System.nanoTime();
    HttpResponse<String> r = switchover(leader, "{\"candidate\":\"pmm-3\"}");
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertEquals(200, r.statusCode(), r.body());
    JsonNode done = JSON.readTree(r.body());
    assertEquals("pmm-1", done.get("from").asText());
    assertEquals("pmm-3", done.get("to").asText());
    assertTrue(done.get("epoch").asLong() > epoch, r.body());
    assertTrue(ms < 10_000, "a switchover to a candidate completes within 10 s; took " + ms + " ms");
    NodeProcess third = waitForSingleLeader(Duration.ofSeconds(10));
    assertEquals("pmm-3", third.name);
    assertEquals(done.get("epoch").asLong(), JSON.readTree(third.body("/v1/ha/leader")).get("epoch").asLong());
    System.out.printf("SwitchoverIT: to pmm-3 answered in %d ms, epoch %d -> %d%n", ms, epoch, done.get("epoch").asLong());
    restartSteppedBack(List.of(node("pmm-1"), node("pmm-2")), third);

    // to the next in line, with the CLI
    Path jar = NodeProcess.JAR;
    assertTrue(Files.isRegularFile(jar), jar + " is built by mvn package");
    Process cli = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
        jar.toString(), "switchover", "--url", third.url("")).redirectErrorStream(true).start();
    String printed = new String(cli.getInputStream().readAllBytes());
    assertEquals(0, cli.waitFor(), printed);
    assertTrue(printed.matches("leadership moved from pmm-3 to pmm-[12], epoch \\d+\\s*"), printed);
    NodeProcess next = waitForSingleLeader(Duration.ofSeconds(10));
    assertTrue(printed.contains("to " + next.name), printed + " but " + next + " leads");
    restartSteppedBack(List.of(third), next);

    watch.close();
    List<LeaderWatch.Answer> answers = watch.answers();
    var led = answers.stream().filter(a -> a.status() == 200).map(LeaderWatch.Answer::node).distinct().toList();
    assertTrue(led.containsAll(List.of("pmm-1", "pmm-3", next.name)), "the watch saw every leader answer 200: " + led);
    assertEquals(List.of(), LeaderWatch.violations(answers), "never two leaders");
    checkLogs(logs);
  }

  /**
   * Settings every node starts with beyond {@link #nodeEnv}: here the notice take-over off, the way of a store without
   * notices (each singleton asks for the fence itself); {@link SwitchoverOnNoticeIT} runs the defaults.
   */
  Map<String, String> settings() {
    return Map.of("PMM_HA_TAKE_OVER_ON_NOTICE", "false");
  }

  /** What the nodes' logs must show once the switchovers are done. */
  void checkLogs(Path logs) throws Exception {}
}
