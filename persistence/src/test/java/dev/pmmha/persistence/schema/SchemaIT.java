package dev.pmmha.persistence.schema;

import static dev.pmmha.persistence.TestStores.settings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.persistence.Connections;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.StoreUnavailableException;
import dev.pmmha.testkit.PostgresServer;
import dev.pmmha.testkit.WithPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("integration")
class SchemaIT extends WithPostgres {

  static List<String> tables(StoreSettings s) throws Exception {
    List<String> out = new ArrayList<>();
    try (Connection c = Connections.open(s); ResultSet rs = c.getMetaData().getTables(null, null, "%", new String[] {"TABLE"})) {
      while (rs.next()) {
        out.add(rs.getString("TABLE_NAME").toLowerCase());
      }
    }
    return out;
  }

  @Test
  void createsThePluginTablesAndCanRunAgain() throws Exception {
    StoreSettings s = settings(pg.createDatabase(), pg.user(), pg.password());
    Schema.ensure(s);
    Schema.ensure(s);
    assertTrue(tables(s).containsAll(List.of("event_journal", "event_tag", "snapshot", "durable_state")), tables(s).toString());
    try (Connection c = Connections.open(s); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_indexes WHERE indexname IN "
            + "('event_journal_ordering_idx','state_tag_idx','state_global_offset_idx')")) {
      rs.next();
      assertEquals(3, rs.getInt(1));
    }
    // the fence check is on event_tag once, and a second start did not recreate it (which would lock the table)
    try (Connection c = Connections.open(s); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_trigger "
            + "WHERE tgname = 'pmm_ha_fence_check' AND tgrelid = 'public.event_tag'::regclass")) {
      rs.next();
      assertEquals(1, rs.getInt(1));
    }
    long before = triggerVersion(s);
    Schema.ensure(s);
    assertEquals(before, triggerVersion(s), "a start with the trigger in place leaves it as it was");
  }

  /** The transaction that last wrote the fence check's pg_trigger row: a CREATE OR REPLACE would change it. */
  private static long triggerVersion(StoreSettings s) throws Exception {
    try (Connection c = Connections.open(s); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT xmin::text::bigint FROM pg_trigger WHERE tgname = 'pmm_ha_fence_check'")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Test
  void threeNodesStartingAtOnceAllSucceed() throws Exception {
    StoreSettings s = settings(pg.createDatabase(), pg.user(), pg.password());
    CountDownLatch go = new CountDownLatch(1);
    List<CompletableFuture<Void>> runs = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      runs.add(CompletableFuture.runAsync(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
        Schema.ensure(s);
      }));
    }
    go.countDown();
    CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).get();
    assertTrue(tables(s).contains("event_journal"));
  }

  /**
   * A store made by an earlier version (its fence without {@code release_reason}) gains the column at the next
   * start, keeps its epoch, and a release's reason reaches the next take-over.
   */
  @Test
  void aFenceFromBeforeTheReleaseReasonGainsItAndKeepsItsEpoch() throws Exception {
    for (StoreSettings s : List.of(settings(pg.createDatabase(), pg.user(), pg.password()),
        settings("jdbc:h2:mem:schema-upgrade;DB_CLOSE_DELAY=-1", "sa", ""))) {
      Schema.ensure(s);
      try (Connection c = Connections.open(s); Statement st = c.createStatement()) {
        st.execute("ALTER TABLE \"pmm_ha_fence\" DROP COLUMN \"release_reason\"");
        st.execute("UPDATE \"pmm_ha_fence\" SET \"epoch\" = 41, \"holder\" = 'old/1', \"released\" = TRUE");
      }
      Schema.ensure(s);
      Schema.ensure(s);
      try (var a = new dev.pmmha.persistence.fence.Fence(s, java.time.Duration.ofSeconds(5));
          var b = new dev.pmmha.persistence.fence.Fence(s, java.time.Duration.ofSeconds(5))) {
        var taken = a.acquire("a/1", 0).orElseThrow();
        assertEquals(42, taken.epoch(), s.description());
        assertEquals("", taken.priorRelease().reason(), "a release from before the column has no reason");
        a.release(taken, "stop (SIGTERM)");
        assertEquals("stop (SIGTERM)", b.acquire("b/1", 0).orElseThrow().priorRelease().reason());
      }
    }
  }

  @Test
  void embeddedH2SchemaIsIdempotentToo() throws Exception {
    StoreSettings s = settings("jdbc:h2:mem:schema-test;DB_CLOSE_DELAY=-1", "sa", "");
    Schema.ensure(s);
    Schema.ensure(s);
    assertTrue(tables(s).contains("event_journal"), tables(s).toString());
  }

  @Test
  void missingDatabaseFailsAtOnceWithAnActionableMessage() {
    String url = pg.createDatabase();
    StoreSettings missing = settings(url.replaceAll("/[^/]+$", "/no_such_db"), pg.user(), pg.password());
    long t0 = System.nanoTime();
    var e = assertThrows(StoreUnavailableException.class, () -> Schema.ensure(missing));
    assertTrue(e.getMessage().contains("the database does not exist"), e.getMessage());
    assertTrue(System.nanoTime() - t0 < 2_500_000_000L, "a missing database is not retried until startup-wait");
  }

  @Test
  void unreachableServerIsRetriedThenReported() {
    int port = PostgresServer.freePort();
    StoreSettings s = settings("jdbc:postgresql://127.0.0.1:" + port + "/x", "u", "p");
    var e = assertThrows(StoreUnavailableException.class, () -> Schema.ensure(s));
    assertTrue(e.getMessage().startsWith("gave up waiting for"), e.getMessage());
    assertTrue(e.getMessage().contains("PMM_HA_STORE_STARTUP_WAIT"), e.getMessage());
  }
}
