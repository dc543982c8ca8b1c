package dev.pmmha.runtime.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.runtime.NodeProcess;
import dev.pmmha.runtime.ProcessClusterIT;
import dev.pmmha.runtime.WithPostgres;
import dev.pmmha.testkit.PostgresServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Sharded jobs on three real {@code java -jar} nodes (127.0.0.71-73) and a real PostgreSQL: 60 jobs spread over
 * the three; a {@code kill -9} moves the dead node's jobs to the others; a graceful leave hands its jobs over
 * without a lost tick; a full cluster restart brings every job back. Throughout, no (job, tick) is ever executed
 * twice, checked in the claims table and in the file every job's command appends its id, tick and node to.
 */
@Tag("integration")
class JobsIT extends WithPostgres {

  static final ObjectMapper JSON = new ObjectMapper();
  static final String[] IPS = {"127.0.0.71", "127.0.0.72", "127.0.0.73"};
  static final int JOBS = 60;
  static final long INTERVAL_MS = 5000;
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

  final List<NodeProcess> nodes = new ArrayList<>();
  Path work;
  String db;

  @AfterEach
  void stopNodes() throws Exception {
    nodes.forEach(NodeProcess::close);
    if (work != null) {
      try (var files = Files.walk(work)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  @Test
  void jobsSpreadMoveOnCrashAndLeaveNeverRunTwiceAndSurviveAFullRestart(TestInfo info) throws Exception {
    work = Files.createTempDirectory("pmm-ha-jobs-it");
    Path ran = work.resolve("ran.txt");
    Files.createFile(ran);
    db = pg.createDatabase();
    int gossip = PostgresServer.freePort();
    int raft = PostgresServer.freePort();
    int http = PostgresServer.freePort();
    Path logs = Path.of("target", "it-logs", "JobsIT");
    for (int i = 0; i < 3; i++) {
      // about jobs, not failover speed
      nodes.add(new NodeProcess("pmm-" + (i + 1), IPS[i], http,
          patientNodeEnv("pmm-" + (i + 1), IPS[i], IPS, gossip, raft, http, db), logs));
    }
    nodes.forEach(NodeProcess::start);
    for (NodeProcess n : nodes) {
      ProcessClusterIT.waitForMember(n, 3, Duration.ofSeconds(120));
    }

    // --- 60 jobs: each node runs at least 15 ---
    NodeProcess api = nodes.get(0);
    for (int i = 0; i < JOBS; i++) {
      String body = "{\"interval\":\"5s\",\"timeout\":\"20s\",\"catch_up\":" + (i % 2 == 0) + ",\"command\":"
          + "[\"/bin/sh\",\"-c\",\"echo \\\"$PMM_HA_JOB_ID $PMM_HA_JOB_TICK $PMM_HA_NODE_ID\\\" >> " + ran + "\"]}";
      HttpResponse<String> r = put(api, "/v1/ha/jobs/job-" + i, body);
      for (int attempt = 1; r.statusCode() == 503 && attempt < 6; attempt++) {
        r = put(api, "/v1/ha/jobs/job-" + i, body); // 503 means "try again": the new shard was still being placed
      }
      assertEquals(200, r.statusCode(), r.body());
    }
    Map<String, Integer> perNode = LocalCluster.eventually(Duration.ofSeconds(120), () -> {
      JsonNode list = get(api, "/v1/ha/jobs");
      if (list == null || list.path("jobs").size() != JOBS) {
        return null;
      }
      for (JsonNode j : list.get("jobs")) {
        if (j.path("last_run").isMissingNode() || j.path("last_run").isNull()) {
          return null;
        }
      }
      Map<String, Integer> m = new TreeMap<>();
      list.get("per_node").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asInt()));
      return m;
    }, "all 60 jobs listed with a node and a first run");
    assertEquals(Set.of("pmm-1", "pmm-2", "pmm-3"), perNode.keySet(), "jobs on every node: " + perNode);
    perNode.forEach((node, n) -> assertTrue(n >= 15, node + " runs " + n + " jobs, fewer than 15: " + perNode));
    Map<String, String> runsOn = latestNodePerJob(0);
    Map<String, Integer> ranPerNode = new TreeMap<>();
    runsOn.values().forEach(n -> ranPerNode.merge(n, 1, Integer::sum));
    ranPerNode.forEach((node, n) -> assertTrue(n >= 15, "claims table: " + node + " ran " + n + " jobs: " + ranPerNode));
    assertEquals(JOBS, runsOn.size());

    // --- kill -9 of a node: its jobs run again on the others ---
    NodeProcess victim = nodes.get(2);
    Set<String> victimJobs = jobsOn(runsOn, victim.name);
    long killedAt = System.currentTimeMillis();
    victim.kill9();
    Map<String, String> after = LocalCluster.eventually(Duration.ofSeconds(90), () -> {
      Map<String, String> m = latestNodePerJob(killedAt);
      return m.keySet().containsAll(victimJobs) ? m : null;
    }, "every job of the killed node running again elsewhere");
    long resumedMs = System.currentTimeMillis() - killedAt;
    for (String job : victimJobs) {
      assertTrue(!after.get(job).equals(victim.name), job + " runs on a live node");
    }
    System.out.printf("JobsIT: %d jobs of %s ran again elsewhere within %d ms of its kill -9%n",
        victimJobs.size(), victim.name, resumedMs);

    // --- graceful leave: the shards are handed over, no tick lost ---
    NodeProcess leaver = nodes.get(1);
    NodeProcess stays = nodes.get(0);
    Set<String> leaverJobs = jobsOn(latestNodePerJob(killedAt), leaver.name);
    assertTrue(!leaverJobs.isEmpty(), "the node that leaves runs jobs");
    long leftAt = System.currentTimeMillis();
    assertEquals(0, leaver.term(Duration.ofSeconds(60)), "a graceful stop exits 0");
    LocalCluster.eventually(Duration.ofSeconds(60), () -> {
      Map<String, String> m = latestNodePerJob(leftAt);
      return m.size() == JOBS && m.values().stream().allMatch(stays.name::equals) ? true : null;
    }, "every job running on the remaining node");
    assertEquals(0, count("SELECT COUNT(*) FROM pmm_ha_job_runs WHERE node = '" + leaver.name + "' AND status <> 'ok'"),
        "every run the leaving node claimed was finished and recorded ok (no lost tick): "
            + rows("SELECT job_id, tick_ms, status FROM pmm_ha_job_runs WHERE node = '" + leaver.name
                + "' AND status <> 'ok'"));
    // Missed ticks: the latest tick due when a job took over on its new node (node_since in the registry) is run
    // there once if the job has catch_up, and skipped if not.
    int caughtUp = 0;
    int skipped = 0;
    for (String job : leaverJobs) {
      long lastOnLeaver = count("SELECT MAX(tick_ms) FROM pmm_ha_job_runs WHERE job_id = '" + job + "' AND node = '"
          + leaver.name + "'");
      long since = count("SELECT node_since_ms FROM pmm_ha_jobs WHERE job_id = '" + job + "'");
      long due = lastOnLeaver + Math.floorDiv(since - lastOnLeaver, INTERVAL_MS) * INTERVAL_MS;
      if (due <= lastOnLeaver) {
        continue; // moved within one interval: nothing was missed
      }
      long claimedThere = count("SELECT COUNT(*) FROM pmm_ha_job_runs WHERE job_id = '" + job + "' AND tick_ms = "
          + due + " AND node = '" + stays.name + "'");
      boolean catchUp = Integer.parseInt(job.substring(4)) % 2 == 0;
      assertEquals(catchUp ? 1 : 0, claimedThere, job + (catchUp ? " (catch_up) runs" : " skips")
          + " the tick missed during its move, " + due + "; its ticks: " + ticks(job, lastOnLeaver - INTERVAL_MS));
      if (catchUp) {
        caughtUp++;
      } else {
        skipped++;
      }
    }
    System.out.printf("JobsIT: graceful leave moved %d jobs; %d caught a missed tick up, %d skipped one%n",
        leaverJobs.size(), caughtUp, skipped);

    // --- full cluster restart: every job runs again ---
    assertEquals(0, stays.term(Duration.ofSeconds(60)));
    long restartedAt = System.currentTimeMillis();
    nodes.forEach(n -> {
      if (!n.alive()) {
        n.start();
      }
    });
    LocalCluster.eventually(Duration.ofSeconds(150), () -> {
      Map<String, String> m = latestNodePerJob(restartedAt);
      return m.size() == JOBS ? true : null;
    }, "all 60 jobs running again after the full restart");
    JsonNode list = LocalCluster.eventually(Duration.ofSeconds(30), () -> {
      JsonNode l = get(nodes.get(1), "/v1/ha/jobs");
      return l != null && l.path("jobs").size() == JOBS ? l : null;
    }, "the job list after the restart");
    assertEquals(JOBS, list.get("jobs").size());

    // --- never twice: the file lines are claimed ticks, each once, on the node that claimed it ---
    // The jobs still run: the file is read before the claims (a line is written only after its claim committed,
    // so every line read has its row in the claims read next) and again after them (a run recorded ok by then
    // wrote its line before).
    Thread.sleep(1000);
    List<String> linesBefore = Files.readAllLines(ran);
    Map<String, String> claimed = new HashMap<>();
    Map<String, String> statusOf = new HashMap<>();
    try (Connection c = connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT job_id, tick_ms, node, status FROM pmm_ha_job_runs")) {
      while (rs.next()) {
        String key = rs.getString(1) + " " + rs.getLong(2);
        claimed.put(key, rs.getString(3));
        statusOf.put(key, rs.getString(4));
      }
    }
    List<String> lines = Files.readAllLines(ran);
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      String[] f = line.trim().split(" ");
      assertEquals(3, f.length, "line " + line);
      String key = f[0] + " " + f[1];
      assertTrue(seen.add(key), "(job, tick) executed twice: " + key);
      if (i < linesBefore.size()) {
        assertEquals(claimed.get(key), f[2], key + " ran on the node that claimed it; the job's claims: "
            + rows("SELECT tick_ms, node, status FROM pmm_ha_job_runs WHERE job_id = '" + f[0] + "' ORDER BY tick_ms"));
      }
    }
    for (Map.Entry<String, String> e : statusOf.entrySet()) {
      if (e.getValue().equals("ok")) {
        assertTrue(seen.contains(e.getKey()), "a run recorded ok wrote its line: " + e.getKey());
      }
    }
    long lost = statusOf.values().stream().filter("lost"::equals).count();
    System.out.printf("JobsIT: %d runs in the file, %d claims, %d lost (claimed by the killed node)%n",
        lines.size(), claimed.size(), lost);
    assertTrue(lines.size() > JOBS * 3, "jobs ran throughout: " + lines.size());
  }

  // --- helpers ---

  Connection connect() throws Exception {
    return DriverManager.getConnection(db, pg.user(), pg.password());
  }

  long count(String sql) {
    try (Connection c = connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    } catch (Exception e) {
      throw new AssertionError(sql + ": " + e, e);
    }
  }

  List<String> rows(String sql) {
    List<String> out = new ArrayList<>();
    try (Connection c = connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      while (rs.next()) {
        out.add(rs.getString(1) + "@" + rs.getString(2) + ":" + rs.getString(3));
      }
    } catch (Exception e) {
      throw new AssertionError(sql + ": " + e, e);
    }
    return out;
  }

  /** Each job's node in its latest claim with a tick after {@code sinceMs} (jobs without one are absent). */
  Map<String, String> latestNodePerJob(long sinceMs) {
    Map<String, String> out = new HashMap<>();
    try (Connection c = connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT r.job_id, r.node FROM pmm_ha_job_runs r WHERE r.tick_ms = "
            + "(SELECT MAX(m.tick_ms) FROM pmm_ha_job_runs m WHERE m.job_id = r.job_id) AND r.tick_ms > " + sinceMs)) {
      while (rs.next()) {
        out.put(rs.getString(1), rs.getString(2));
      }
    } catch (Exception e) {
      return null;
    }
    return out;
  }

  List<Long> ticks(String job, long sinceMs) {
    List<Long> out = new ArrayList<>();
    try (Connection c = connect(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT tick_ms FROM pmm_ha_job_runs WHERE job_id = '" + job
            + "' AND tick_ms > " + sinceMs + " ORDER BY tick_ms")) {
      while (rs.next()) {
        out.add(rs.getLong(1));
      }
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    return out;
  }

  static Set<String> jobsOn(Map<String, String> runsOn, String node) {
    Set<String> out = new HashSet<>();
    runsOn.forEach((job, n) -> {
      if (n.equals(node)) {
        out.add(job);
      }
    });
    return out;
  }

  static HttpResponse<String> put(NodeProcess n, String path, String body) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(n.url(path))).timeout(Duration.ofSeconds(30))
        .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode get(NodeProcess n, String path) {
    try {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(n.url(path))).timeout(Duration.ofSeconds(5))
          .build(), HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
    } catch (Exception e) {
      return null;
    }
  }
}
