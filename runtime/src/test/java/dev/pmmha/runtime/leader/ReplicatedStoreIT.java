package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.testkit.ReplicatedPostgres;
import java.io.File;
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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store itself fails over: two PostgreSQL servers with streaming replication and a synchronous standby
 * ({@link ReplicatedPostgres}), three nodes given both in {@code PMM_POSTGRES_ADDR}, and a client writing
 * settings through a real HAProxy with the recommended configuration. The primary is stopped hard
 * ({@code -m immediate}) and the standby promoted, at once or a little longer than the lease later. Leadership
 * must resume on the new primary (with a higher epoch when the old lease ran out), every acknowledged write must
 * be there, and no job tick may run twice.
 */
@Tag("integration")
class ReplicatedStoreIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2)).build();
  private static final int JOBS = 4;

  /** One settings write through HAProxy: when it was sent and answered (nanoTime), and its status (-1: none). */
  record Write(int n, long sent, long answered, int status) {}

  /**
   * {@code promoteAfterMs}: 4000, longer than LocalCluster's 3 s lease, so that the old lease has expired on the
   * new primary and a new epoch is needed (a Patroni takes longer still to notice); 0, at once, so that the times
   * measured are pmm-ha's and HAProxy's alone (the leader may then keep its epoch, renewing its lease on the new
   * primary).
   */
  @ParameterizedTest(name = "promoted {0} ms after the crash")
  @ValueSource(longs = {4000, 0})
  void leadershipResumesOnThePromotedStandbyNoAcknowledgedWriteIsLostAndNoTickRunsTwice(long promoteAfterMs,
      @TempDir Path tmp) throws Exception {
    Path ran = Files.createFile(tmp.resolve("ran.txt"));
    try (ReplicatedPostgres pg = ReplicatedPostgres.start()) {
      String db = pg.createDatabase();
      Map<String, String> store = Map.of(
          "PMM_HA_STORE_URL", "", // PMM_POSTGRES_ADDR with both servers, as an operator would set it
          "PMM_POSTGRES_ADDR", pg.hostList(),
          "PMM_POSTGRES_DBNAME", db);
      try (LocalCluster c = LocalCluster.start(3, pg.primary(), "", id -> store,
              com.typesafe.config.ConfigFactory.empty());
          Haproxy proxy = Haproxy.start(tmp, c.running())) {
        c.waitForLeader(Duration.ofSeconds(60));
        LocalCluster.eventually(Duration.ofSeconds(20), () -> put(proxy, "/v1/ha/settings/ready", "true") == 200
            ? true : null, "a write through HAProxy");

        for (int i = 0; i < JOBS; i++) {
          String body = "{\"interval\":\"1s\",\"timeout\":\"10s\",\"catch_up\":" + (i % 2 == 0) + ",\"command\":"
              + "[\"/bin/sh\",\"-c\",\"echo \\\"$PMM_HA_JOB_ID $PMM_HA_JOB_TICK $PMM_HA_NODE_ID\\\" >> " + ran
              + "\"]}";
          int jobId = i;
          LocalCluster.eventually(Duration.ofSeconds(20), () -> put(proxy, "/v1/ha/jobs/job-" + jobId, body) == 200
              ? true : null, "job-" + i + " defined"); // 503: its shard was still being placed
        }
        LocalCluster.eventually(Duration.ofSeconds(60), () -> runsPerJob(ran, 0).values().stream()
            .filter(n -> n >= 2).count() == JOBS ? true : null, "every job ran twice");

        // a client writing settings through HAProxy, one key per write, all through the failover
        List<Write> writes = new CopyOnWriteArrayList<>();
        AtomicBoolean writing = new AtomicBoolean(true);
        Thread writer = new Thread(() -> {
          for (int n = 0; writing.get(); n++) {
            long sent = System.nanoTime();
            int status = put(proxy, "/v1/ha/settings/w-" + n, String.valueOf(n));
            writes.add(new Write(n, sent, System.nanoTime(), status));
          }
        }, "settings-writer");
        writer.start();
        Thread.sleep(1500);

        JsonNode before = get(proxy, "/v1/ha/leader");
        long epochBefore = before.get("epoch").asLong();
        long crashed = System.nanoTime();
        pg.crashPrimary();
        // a write sent before pg_ctl returned may still have committed on the old primary in its last milliseconds
        long dead = System.nanoTime();
        long tickAtCrash = System.currentTimeMillis();
        Thread.sleep(promoteAfterMs);
        pg.promoteStandby();
        long promoted = System.nanoTime();

        Write first = LocalCluster.eventually(Duration.ofSeconds(60), () -> writes.stream()
            .filter(w -> w.sent() > dead && w.status() == 200).findFirst().orElse(null),
            "a write through HAProxy answered 200 after the promotion");
        assertTrue(first.answered() > promoted, "no write sent after the crash is acknowledged before the promotion");
        System.out.printf("store failover: first 200 through HAProxy %d ms after the promotion, %d ms after the "
            + "primary's crash (promoted %d ms after the crash)%n", (first.answered() - promoted) / 1_000_000,
            (first.answered() - crashed) / 1_000_000, (promoted - crashed) / 1_000_000);
        Thread.sleep(1500);
        writing.set(false);
        writer.join(30_000);

        // leadership resumed, on a new epoch, and the fence on the promoted server holds it
        LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(30));
        long epochAfter = c.json(leader, "/v1/ha/leader").get("epoch").asLong();
        if (promoteAfterMs > 3000) {
          assertTrue(epochAfter > epochBefore, "the epoch rose across the store failover: " + epochBefore + " -> "
              + epochAfter);
        } else {
          assertTrue(epochAfter >= epochBefore, "the epoch never goes back: " + epochBefore + " -> " + epochAfter);
        }
        assertEquals(String.valueOf(epochAfter), query(pg, db, "SELECT epoch FROM pmm_ha_fence WHERE id = 1").get(0),
            "the promoted server's fence holds the leader's epoch");

        // the journal, read back through the promoted server: elections on strictly rising epochs
        List<LeaderEvent> journal = c.journal();
        List<Long> elected = journal.stream().filter(e -> e instanceof LeaderEvent.LeaderElected)
            .map(LeaderEvent::epoch).toList();
        for (int i = 1; i < elected.size(); i++) {
          assertTrue(elected.get(i) > elected.get(i - 1), "elections on strictly rising epochs: " + elected);
        }
        assertTrue(elected.contains(epochAfter), "the current epoch's election is journaled: " + elected);

        // every acknowledged write is there, with its value: in the journal as read back from the promoted server,
        // and in the settings the leader serves
        Map<String, String> journaled = new java.util.HashMap<>();
        for (LeaderEvent e : journal) {
          if (e instanceof LeaderEvent.SettingChanged s) {
            journaled.put(s.key(), s.json());
          }
        }
        JsonNode served = get(proxy, "/v1/ha/settings").path("settings");
        List<Write> acked = writes.stream().filter(w -> w.status() == 200).toList();
        long ackedBeforeCrash = acked.stream().filter(w -> w.answered() < crashed).count();
        long ackedAfter = acked.stream().filter(w -> w.sent() > promoted).count();
        assertTrue(ackedBeforeCrash > 0 && ackedAfter > 0,
            "writes acknowledged before the crash (" + ackedBeforeCrash + ") and after the promotion (" + ackedAfter
                + ")");
        List<Integer> lost = new ArrayList<>();
        for (Write w : acked) {
          String key = "w-" + w.n();
          if (!String.valueOf(w.n()).equals(journaled.get(key))
              || served.path(key).path("value").asInt(-1) != w.n()) {
            lost.add(w.n());
          }
        }
        assertEquals(List.of(), lost, "acknowledged writes missing after the failover (of " + acked.size() + ")");
        System.out.printf("store failover: %d writes acknowledged (%d before the crash, %d after the promotion), "
            + "none lost; epoch %d -> %d%n", acked.size(), ackedBeforeCrash, ackedAfter, epochBefore, epochAfter);

        // jobs run again on the new primary, and no (job, tick) ever ran twice
        LocalCluster.eventually(Duration.ofSeconds(60), () -> runsPerJob(ran, tickAtCrash + promoteAfterMs)
            .values().stream().filter(n -> n >= 2).count() == JOBS ? true : null,
            "every job ran twice after the promotion");
        List<String> lines = Files.readAllLines(ran).stream().filter(l -> !l.isBlank()).toList();
        Set<String> ticks = new HashSet<>();
        List<String> twice = new ArrayList<>();
        for (String l : lines) {
          String[] f = l.trim().split(" ");
          if (!ticks.add(f[0] + " " + f[1])) {
            twice.add(l);
          }
        }
        assertEquals(List.of(), twice, "ticks that ran twice, of " + lines.size());
        // every tick that ran was claimed, and the claim is on the promoted server (not lost with the old primary)
        Set<String> claimed = new HashSet<>(query(pg, db, "SELECT job_id || ' ' || tick_ms FROM pmm_ha_job_runs"));
        List<String> unclaimed = ticks.stream().filter(t -> !claimed.contains(t)).sorted().toList();
        assertEquals(List.of(), unclaimed, "ticks that ran without a claim on the promoted server");
      }
    }
  }

  /** Runs per job in the file the jobs append to, counting ticks at or after {@code sinceMs}. */
  private static Map<String, Long> runsPerJob(Path ran, long sinceMs) {
    try {
      return Files.readAllLines(ran).stream().map(l -> l.trim().split(" ")).filter(f -> f.length == 3)
          .filter(f -> Long.parseLong(f[1]) >= sinceMs)
          .collect(Collectors.groupingBy(f -> f[0], Collectors.counting()));
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static List<String> query(ReplicatedPostgres pg, String db, String sql) throws Exception {
    try (Connection conn = DriverManager.getConnection(ReplicatedPostgres.url(pg.standby(), db), pg.user(),
            pg.password());
        Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString(1));
      }
      return out;
    }
  }

  private static int put(Haproxy proxy, String path, String json) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create(proxy.url(path))).timeout(Duration.ofSeconds(15))
          .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(json)).build(),
          HttpResponse.BodyHandlers.discarding()).statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  private static JsonNode get(Haproxy proxy, String path) throws Exception {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(proxy.url(path)))
        .timeout(Duration.ofSeconds(15)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), "GET " + path + " through HAProxy: " + r.body());
    return JSON.readTree(r.body());
  }

  /**
   * A real HAProxy with deploy/haproxy/pmm-ha-recommended.cfg, its servers replaced by the nodes' HTTP ports (the
   * leader check on the same port) and the HTTPS part left out. Stopped by its own PID.
   */
  record Haproxy(Process process, int port) implements AutoCloseable {

    static Haproxy start(Path tmp, List<LocalCluster.Node> nodes) throws Exception {
      Path haproxy = findOnPath("haproxy");
      Path dir = repoRoot().resolve("deploy/haproxy");
      int port = dev.pmmha.testkit.PostgresServer.freePort();
      String src = Files.readString(dir.resolve("pmm-ha-recommended.cfg"))
          .replace("/usr/local/etc/haproxy/", dir.toAbsolutePath() + "/")
          .replace("bind *:80", "bind 127.0.0.1:" + port);
      String[] compose = {"172.20.0.5", "172.20.0.6", "172.20.0.7"};
      for (int i = 0; i < compose.length; i++) {
        src = src.replace(compose[i] + ":8080 check port 8079", "127.0.0.1:" + nodes.get(i).httpPort() + " check");
      }
      StringBuilder cfg = new StringBuilder();
      for (String section : Pattern.compile("(?m)^(?=\\S)").split(src)) {
        String head = section.lines().findFirst().orElse("").strip();
        if (!head.startsWith("frontend https_front") && !head.startsWith("backend https_back")) {
          cfg.append(section);
        }
      }
      Path file = tmp.resolve("haproxy.cfg");
      Files.writeString(file, cfg);
      Process p = new ProcessBuilder(haproxy.toString(), "-db", "-f", file.toString()).redirectErrorStream(true)
          .redirectOutput(tmp.resolve("haproxy.log").toFile()).start();
      return new Haproxy(p, port);
    }

    String url(String path) {
      return "http://127.0.0.1:" + port + path;
    }

    private static Path findOnPath(String tool) {
      for (String d : (System.getenv("PATH") + File.pathSeparator + "/usr/sbin").split(File.pathSeparator)) {
        Path p = Path.of(d, tool);
        if (Files.isExecutable(p)) {
          return p;
        }
      }
      throw new AssertionError(tool + " is not installed, and this test needs it: apt-get install haproxy");
    }

    private static Path repoRoot() {
      for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
        if (Files.exists(p.resolve("deploy/haproxy/pmm-ha-recommended.cfg"))) {
          return p;
        }
      }
      throw new AssertionError("deploy/haproxy/pmm-ha-recommended.cfg not found above " + Path.of("").toAbsolutePath());
    }

    @Override
    public void close() throws Exception {
      process.destroy();
      if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }
}
