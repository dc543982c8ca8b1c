package dev.pmmha.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.persistence.jobs.JobStore;
import dev.pmmha.persistence.schema.Schema;
import dev.pmmha.testkit.PostgresServer;
import dev.pmmha.testkit.ReplicatedPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The fence's connection and the job store's pool on {@code PMM_POSTGRES_ADDR=primary,standby}, through a planned
 * switchover: the primary stops ({@code -m fast}), the standby is promoted, and the old primary comes back as a
 * standby (pg_rewind), first in the host list. Both follow the new primary, what they wrote before is there, and
 * no session of theirs is left on, or opened to, the demoted server.
 */
@Tag("integration")
class StoreFailoverIT {

  private static StoreSettings settings(ReplicatedPostgres pg, String db) {
    return StoreSettings.create(ConfigFactory.parseString(
            "pmm-ha.store { postgres-addr = \"" + pg.hostList() + "\", dbname = \"" + db + "\", username = \""
                + pg.user() + "\", password = \"" + pg.password() + "\", connection-timeout = 2s }")
        .withFallback(ConfigFactory.defaultReference()).resolve());
  }

  @Test
  void theFenceAndTheJobStoreFollowThePrimaryAndLeaveNothingOnTheDemotedServer() throws Exception {
    try (ReplicatedPostgres pg = ReplicatedPostgres.start()) {
      String db = pg.createDatabase();
      StoreSettings s = settings(pg, db);
      Schema.ensure(s);
      PostgresServer a = pg.primary();
      PostgresServer b = pg.standby();
      try (Fence fence = new Fence(s, Duration.ofSeconds(2)); JobStore jobs = new JobStore(s, 2)) {
        Fence.Lease first = fence.acquire("node-1", 0).orElseThrow();
        long now = System.currentTimeMillis();
        jobs.register("job", 1, now);
        assertEquals(JobStore.Claim.CLAIMED, jobs.claim("job", 1_000, "node-1", "i1", now));
        assertTrue(sessions(a, db) > 0, "the fence and the pool are on the primary");
        assertEquals(0, sessions(b, db), "nothing of pmm-ha on the standby");

        long promoted = pg.switchover();

        // the fence: the old lease is gone with its ttl; a take-over reads the replicated row and bumps its epoch
        Optional<Fence.Lease> next = eventually(() -> {
          Optional<Fence.Lease> l = fence.acquire("node-2", 0);
          return l.isPresent() ? l : null;
        });
        assertEquals(first.epoch() + 1, next.orElseThrow().epoch(), "the epoch goes on from the replicated fence");
        // the job store: the claim made on the old primary is there, a new tick is claimed on the new one
        assertEquals(JobStore.Claim.TAKEN, eventually(() -> jobs.claim("job", 1_000, "node-2", "i2", now)),
            "a tick claimed before the switchover is not claimed again");
        assertEquals(JobStore.Claim.CLAIMED, jobs.claim("job", 2_000, "node-2", "i2", now));
        System.out.printf("switchover: the fence and the job store write on the new primary %d ms after its "
            + "promotion (including the old primary's rewind and restart)%n", (System.nanoTime() - promoted) / 1_000_000);

        // the demoted server is up again, as a standby, first in the list: work goes on, nothing lands on it. The
        // driver remembers that it was down for hostRecheckSeconds (10 s): only past that does a new connection
        // try it again, so wait that long before checking.
        Thread.sleep(11_000);
        // the 2 s lease ran out meanwhile: take the fence again, on the fence's connection made before the wait
        Fence.Lease held = fence.acquire("node-2", 0).orElseThrow();
        assertEquals(next.orElseThrow().epoch() + 1, held.epoch());
        for (int i = 0; i < 20; i++) {
          assertTrue(fence.renew(held).isPresent(), "the lease is renewed on the new primary");
          jobs.claim("job", 3_000 + i * 1_000L, "node-2", "i2", now);
          try (Fence another = new Fence(s, Duration.ofSeconds(2))) {
            assertEquals(held.epoch(), another.current().epoch(), "a new connection reads the new primary");
          }
        }
        assertTrue(inRecovery(a), "the old primary is a standby now");
        assertEquals(0, sessions(a, db), "no session of the fence or the pool on the demoted server");
        assertTrue(sessions(b, db) > 0, "the fence and the pool are on the new primary");
      }
    }
  }

  /** Client sessions of pmm-ha (ApplicationName=pmm-ha) on {@code server}'s {@code db}. */
  private static long sessions(PostgresServer server, String db) throws SQLException {
    try (Connection c = DriverManager.getConnection(ReplicatedPostgres.url(server, "postgres"), server.user(),
            server.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pmm-ha' "
            + "AND datname = '" + db + "'")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static boolean inRecovery(PostgresServer server) throws SQLException {
    try (Connection c = DriverManager.getConnection(ReplicatedPostgres.url(server, "postgres"), server.user(),
            server.password());
        Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  /** The first answer of {@code work} that is not null and does not throw, within 20 s. */
  private static <T> T eventually(Callable<T> work) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (true) {
      try {
        T v = work.call();
        if (v != null) {
          return v;
        }
      } catch (SQLException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no answer within 20 s");
      }
      Thread.sleep(100);
    }
  }
}
