package dev.pmmha.runtime.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.testkit.WithPostgres;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A job that moves runs the ticks that fall while it starts on its new node (journal replay, take-over: seconds
 * when thousands of jobs move at once) as soon as it has started, late; the ticks that fell before it reached the
 * node were missed during the move and are skipped (no catch_up). The take-over is slowed down here by a trigger
 * on the registry, so that at least one tick falls while the job starts.
 */
@Tag("integration")
class JobLateTickIT extends WithPostgres {

  @Test
  void aTickThatFallsWhileAMovedJobStartsRunsLateAndTicksBeforeItArrivedAreSkipped() throws Exception {
    String db = pg.createDatabase();
    try (LocalCluster c = LocalCluster.start(2, pg, db)) {
      LocalCluster.Node first = c.waitForLeader(Duration.ofSeconds(60));
      LocalCluster.waitForUp(first, 2, Duration.ofSeconds(60));
      HttpResponse<String> r = LocalCluster.eventually(Duration.ofSeconds(30), () -> {
        HttpResponse<String> put = LocalCluster.put(first, "/v1/ha/jobs/mover", "{\"interval\":\"2s\",\"action\":\"noop\"}");
        return put.statusCode() == 503 ? null : put;
      }, "the job written");
      assertEquals(200, r.statusCode(), r.body());
      String owner = LocalCluster.eventually(Duration.ofSeconds(30), () -> {
        List<String> rows = query(db, "SELECT node FROM pmm_ha_job_runs WHERE job_id = 'mover' AND status = 'ok'");
        return rows.isEmpty() ? null : rows.get(0);
      }, "a first run");

      // from now on a take-over by another node waits 3 s in the registry update
      exec(db, "CREATE FUNCTION slow_move() RETURNS trigger AS $$ BEGIN IF NEW.node IS DISTINCT FROM OLD.node THEN "
          + "PERFORM pg_sleep(3); END IF; RETURN NEW; END $$ LANGUAGE plpgsql");
      exec(db, "CREATE TRIGGER slow_move BEFORE UPDATE ON pmm_ha_jobs FOR EACH ROW EXECUTE FUNCTION slow_move()");
      LocalCluster.Node leaver = c.running().stream().filter(n -> n.id().equals(owner)).findFirst().orElseThrow();
      String heir = c.running().stream().filter(n -> !n.id().equals(owner)).findFirst().orElseThrow().id();
      c.leave(leaver);

      List<String> heirs = LocalCluster.eventually(Duration.ofSeconds(60), () -> {
        List<String> rows = query(db, "SELECT tick_ms || ' ' || started_ms FROM pmm_ha_job_runs WHERE job_id = 'mover' "
            + "AND node = '" + heir + "' ORDER BY tick_ms");
        return rows.size() >= 2 ? rows : null;
      }, "runs on " + heir);
      long since = Long.parseLong(query(db, "SELECT node_since_ms FROM pmm_ha_jobs WHERE job_id = 'mover'").get(0));
      long firstTick = Long.parseLong(heirs.get(0).split(" ")[0]);
      long firstStart = Long.parseLong(heirs.get(0).split(" ")[1]);
      assertTrue(firstTick >= since, "no tick from before the job reached " + heir + " (" + since + ") was run there: "
          + heirs);
      // the take-over took at least 3 s after the job arrived: a tick within those 3 s fell while it started
      assertTrue(firstTick < since + 3_000, "a tick that fell while the job was starting ran: first tick "
          + (firstTick - since) + " ms after it arrived; " + heirs);
      assertTrue(firstStart - firstTick >= 0 && firstStart >= since + 3_000, "and it ran late, once the start was "
          + "done: " + (firstStart - firstTick) + " ms after its tick");
      assertEquals(heirs.size(), heirs.stream().map(h -> h.split(" ")[0]).distinct().count(), "each tick once");
    }
  }

  static List<String> query(String db, String sql) {
    try (Connection c = DriverManager.getConnection(db, pg.user(), pg.password()); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString(1));
      }
      return out;
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(sql + ": " + e.getMessage(), e);
    }
  }

  static void exec(String db, String sql) throws Exception {
    try (Connection c = DriverManager.getConnection(db, pg.user(), pg.password()); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }
}
