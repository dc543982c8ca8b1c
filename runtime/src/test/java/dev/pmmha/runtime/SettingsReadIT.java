package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.testkit.PostgresServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Reads never deny an acknowledged write: three real nodes read every acknowledged setting all the time, through
 * a full restart (read from the new leader as soon as it answers the leader check), a crash failover right after
 * a write, and a node that has just joined. An answer may be 503 (the copy is not known to be current yet), never
 * a 404 or another value.
 */
@Tag("integration")
class SettingsReadIT extends WithPostgres {

  static final String[] IPS = {"127.0.0.34", "127.0.0.35", "127.0.0.36"};
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP = HttpClient.newHttpClient();
  final List<NodeProcess> nodes = new ArrayList<>();
  /** Acknowledged writes: key -> the value's JSON text. */
  final Map<String, String> acknowledged = new ConcurrentHashMap<>();
  final List<String> denials = new CopyOnWriteArrayList<>();
  final AtomicInteger served = new AtomicInteger();
  final AtomicInteger unavailable = new AtomicInteger();
  volatile boolean reading = true;

  @AfterEach
  void stop() {
    reading = false;
    nodes.forEach(NodeProcess::close);
  }

  /** GET of one setting: its status and value ({@code null} unless 200); status -1 when the node did not answer. */
  record Read(int status, String value) {}

  static Read read(NodeProcess n, String key) {
    try {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(n.url("/v1/ha/settings/" + key)))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      return new Read(r.statusCode(), r.statusCode() == 200 ? JSON.readTree(r.body()).get("value").toString() : null);
    } catch (Exception e) {
      return new Read(-1, null);
    }
  }

  /** One reader per node, for the whole test: every answer about an acknowledged key is checked. */
  void startReaders() {
    for (NodeProcess n : nodes) {
      Thread t = new Thread(() -> {
        while (reading) {
          for (var e : Map.copyOf(acknowledged).entrySet()) {
            Read r = read(n, e.getKey());
            if (r.status() == 200 && r.value().equals(e.getValue())) {
              served.incrementAndGet();
            } else if (r.status() == 503) {
              unavailable.incrementAndGet();
            } else if (r.status() != -1) {
              denials.add(n + " answered " + r.status() + " " + r.value() + " for " + e.getKey() + "=" + e.getValue());
            }
          }
          try {
            Thread.sleep(20);
          } catch (InterruptedException x) {
            return;
          }
        }
      }, "reader-" + n);
      t.setDaemon(true);
      t.start();
    }
  }

  NodeProcess waitForSingleLeader(Duration timeout) {
    return NodeProcess.singleLeader(nodes, timeout);
  }

  void write(NodeProcess leader, String key, String json) {
    var r = LocalCluster.eventually(Duration.ofSeconds(30), () -> {
      try {
        var resp = HTTP.send(HttpRequest.newBuilder(URI.create(leader.url("/v1/ha/settings/" + key)))
            .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(json)).build(),
            HttpResponse.BodyHandlers.ofString());
        return resp.statusCode() == 200 ? resp : null;
      } catch (Exception e) {
        return null;
      }
    }, "PUT " + key + " on " + leader);
    assertEquals(200, r.statusCode());
    acknowledged.put(key, json);
  }

  /** The first read on a node as soon as it can answer: the value, or 503; never a denial. */
  void firstRead(NodeProcess n, String key) {
    Read r = LocalCluster.eventually(Duration.ofSeconds(60), () -> {
      Read x = read(n, key);
      return x.status() == -1 ? null : x;
    }, n + " answers HTTP");
    assertTrue(r.status() == 503 || (r.status() == 200 && r.value().equals(acknowledged.get(key))),
        "the first read of " + key + " on " + n + ": " + r);
    LocalCluster.eventually(Duration.ofSeconds(30), () -> read(n, key).status() == 200 ? true : null,
        n + " serves " + key);
  }

  @Test
  void fullRestartCrashFailoverAndAJoiningNodeNeverDenyAnAcknowledgedSetting() throws Exception {
    String db = pg.createDatabase();
    int gossip = PostgresServer.freePort();
    int raft = PostgresServer.freePort();
    int http = PostgresServer.freePort();
    Path logs = Path.of("target", "it-logs", "SettingsReadIT");
    for (int i = 0; i < 3; i++) {
      // about reads, not failure detection: CI saw the SBR down one of the three JVMs of the full restart below
      nodes.add(new NodeProcess("pmm-" + (i + 1), IPS[i], http,
          patientNodeEnv("pmm-" + (i + 1), IPS[i], IPS, gossip, raft, http, db), logs));
    }
    nodes.forEach(NodeProcess::start);
    NodeProcess leader = waitForSingleLeader(Duration.ofSeconds(90));
    for (NodeProcess n : nodes) {
      ProcessClusterIT.waitForMember(n, 3, Duration.ofSeconds(90));
    }
    write(leader, "retention", "\"30d\"");
    startReaders();

    // 1. every node stopped, then started again: read on the new leader as soon as it answers 200
    nodes.forEach(NodeProcess::sigterm);
    for (NodeProcess n : nodes) {
      assertEquals(0, n.waitExit(Duration.ofSeconds(30)), n + " exits 0");
    }
    nodes.forEach(NodeProcess::start);
    leader = waitForSingleLeader(Duration.ofSeconds(90));
    firstRead(leader, "retention");
    for (NodeProcess n : nodes) {
      ProcessClusterIT.waitForMember(n, 3, Duration.ofSeconds(90));
    }

    // 2. a write, then at once a crash of the leader that acknowledged it
    write(leader, "alerting", "{\"enabled\":true}");
    leader.kill9();
    NodeProcess next = waitForSingleLeader(Duration.ofSeconds(60));
    assertNotEquals(leader, next);
    firstRead(next, "alerting");

    // 3. the crashed node starts again and joins: read on it as soon as it answers
    leader.start();
    firstRead(leader, "alerting");
    firstRead(leader, "retention");
    ProcessClusterIT.waitForMember(leader, 3, Duration.ofSeconds(90));
    Thread.sleep(1000);
    reading = false;

    assertEquals(List.of(), denials, "no node denies an acknowledged setting");
    assertTrue(served.get() > 50, "the readers read the settings all along: " + served.get() + " answers with the value");
    System.out.printf("SettingsReadIT: %d reads answered with the value, %d answered 503, 0 denials%n", served.get(),
        unavailable.get());
  }
}
