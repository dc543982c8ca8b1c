package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.pmmha.http.routes.HaRoutes;
import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.testkit.PostgresServer;
import dev.pmmha.testkit.ReplicatedPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/**
 * The store fails over to an asynchronous standby that lacks the last commits, made so on purpose: the standby
 * streams through a proxy that the test cuts ({@link ReplicatedPostgres#startAsynchronous()}), then the leader is
 * downed as a crash would be, so that the next leader takes a new epoch in the primary's fence only; then the
 * primary crashes ({@code -m immediate}) and the standby, whose fence is an epoch behind, is promoted. Either the
 * leader of that lost epoch takes the fence again on the promoted server, or it is downed too before the
 * promotion, so that the third node, which knows that epoch only from the leader's announcements, takes it.
 *
 * <p>Clients poll every node's leader check, and the leader check through a real HAProxy, for the whole run and
 * record each 200 with its epoch ({@code X-PMM-HA-Epoch}). No epoch may be answered by two nodes, no client may
 * see the epoch go back, the leader after the promotion must hold an epoch above every one answered before it,
 * and the node that took it must have said STORE WENT BACK IN TIME.
 */
@Tag("integration")
class AsyncStoreIT {

  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(1)).build();

  /** A 200 from a leader check: who asked ({@code observer}), which node answered (null through HAProxy), when. */
  record Answer(String observer, String node, long epoch, long atNanos) {}

  @ParameterizedTest(name = "the lost epoch's leader downed too: {0}")
  @ValueSource(booleans = {false, true})
  void aPromotedStandbyBehindTheLastFenceUpdateNeverHandsAnAnsweredEpochOutAgain(boolean lostEpochsLeaderDowned,
      @TempDir Path tmp) throws Exception {
    Logger leaderLog = (Logger) LoggerFactory.getLogger(Leader.class);
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    logged.start();
    leaderLog.addAppender(logged);
    List<Answer> answers = new CopyOnWriteArrayList<>();
    AtomicBoolean polling = new AtomicBoolean(true);
    List<Thread> observers = new ArrayList<>();
    try (ReplicatedPostgres pg = ReplicatedPostgres.startAsynchronous()) {
      String db = pg.createDatabase();
      Map<String, String> store = Map.of(
          "PMM_HA_STORE_URL", "",
          "PMM_POSTGRES_ADDR", pg.hostList(),
          "PMM_POSTGRES_DBNAME", db);
      try (LocalCluster c = LocalCluster.start(3, pg.primary(), "", id -> store,
              com.typesafe.config.ConfigFactory.empty());
          ReplicatedStoreIT.Haproxy proxy = ReplicatedStoreIT.Haproxy.start(tmp, c.running())) {
        LocalCluster.Node first = c.waitForLeader(Duration.ofSeconds(60));
        for (LocalCluster.Node n : c.running()) {
          LocalCluster.waitForUp(n, 3, Duration.ofSeconds(30));
        }
        for (LocalCluster.Node n : c.running()) {
          observers.add(poll(n.id(), n.id(), n.url("/v1/leaderHealthCheck"), answers, polling));
        }
        observers.add(poll("haproxy", null, proxy.url("/v1/leaderHealthCheck"), answers, polling));
        observers.forEach(Thread::start);
        long firstEpoch = LocalCluster.eventually(Duration.ofSeconds(20), () -> answers.stream()
            .filter(a -> first.id().equals(a.node())).map(Answer::epoch).findFirst().orElse(null),
            "a client saw the first leader's 200");

        // the standby has everything so far (the first leader's fence row and election, a marker table written
        // after them), then is cut off
        LocalCluster.eventually(Duration.ofSeconds(20), () -> c.journal().stream()
            .anyMatch(e -> e instanceof LeaderEvent.LeaderElected && e.epoch() == firstEpoch) ? true : null,
            "the first leader's election journaled");
        execute(pg.primary(), db, "CREATE TABLE async_marker (n int)");
        LocalCluster.eventually(Duration.ofSeconds(20), () -> {
          try {
            return fenceEpoch(pg.standby(), db) == firstEpoch && tableExists(pg.standby(), db, "async_marker")
                ? true : null;
          } catch (IllegalStateException e) {
            return null; // the standby has not replayed the schema yet
          }
        }, "the standby caught up");
        pg.cutReplication();
        assertEquals(0, pg.replicationRows(), "the primary streams to no standby");
        assertFalse(pg.standbyStreams(), "the standby streams from no primary");
        execute(pg.primary(), db, "INSERT INTO async_marker VALUES (1)");

        // the leader crashes (downed by another member); the next one takes a new epoch, in the primary only
        LocalCluster.Node by = c.running().stream().filter(n -> n != first).findFirst().orElseThrow();
        c.down(first, by);
        Answer moved = LocalCluster.eventually(Duration.ofSeconds(30), () -> answers.stream()
            .filter(a -> a.node() != null && a.epoch() > firstEpoch).findFirst().orElse(null),
            "a client saw a new leader's 200 after the crash");
        long primaryEpoch = fenceEpoch(pg.primary(), db);
        long standbyEpoch = fenceEpoch(pg.standby(), db);
        assertTrue(primaryEpoch >= moved.epoch(), "the primary's fence holds the new epoch: " + primaryEpoch);
        Thread.sleep(1000); // the new leader's announcement reaches every node

        // the primary crashes; the standby, which lacks the new epoch's fence update, is promoted
        long seenBeforePromotion = answers.stream().mapToLong(Answer::epoch).max().orElseThrow();
        assertTrue(standbyEpoch < seenBeforePromotion, "the standby's fence (epoch " + standbyEpoch
            + ") is behind the highest epoch answered (" + seenBeforePromotion + ")");
        assertEquals(0L, count(pg.standby(), db, "SELECT count(*) FROM async_marker"),
            "the marker row written after the cut did not reach the standby");
        pg.crashPrimary();
        LocalCluster.Node lostEpochsLeader = c.running().stream().filter(n -> n.id().equals(moved.node()))
            .findFirst().orElseThrow();
        if (lostEpochsLeaderDowned) {
          LocalCluster.Node other = c.running().stream().filter(n -> n != lostEpochsLeader).findFirst().orElseThrow();
          c.down(lostEpochsLeader, other);
        }
        pg.promoteStandby();
        long promoted = System.nanoTime();
        assertEquals(0L, count(pg.standby(), db, "SELECT count(*) FROM async_marker"),
            "the promoted standby lacks the last commits");

        // leadership resumes on the promoted server: the first 200 of a tenure that did not answer before
        Set<String> tenuresBefore = new java.util.HashSet<>();
        answers.stream().filter(a -> a.atNanos() < promoted).forEach(a -> tenuresBefore.add(a.node() + "/" + a.epoch()));
        Answer after = LocalCluster.eventually(Duration.ofSeconds(60), () -> answers.stream()
            .filter(a -> a.atNanos() > promoted && a.node() != null && !tenuresBefore.contains(a.node() + "/" + a.epoch()))
            .findFirst().orElse(null), "a leader's 200 after the promotion, from a new tenure");
        Answer throughProxy = LocalCluster.eventually(Duration.ofSeconds(30), () -> answers.stream()
            .filter(a -> a.node() == null && a.atNanos() > promoted && a.epoch() == after.epoch())
            .findFirst().orElse(null), "a 200 through HAProxy with epoch " + after.epoch());
        Thread.sleep(1500);
        polling.set(false);
        for (Thread t : observers) {
          t.join(10_000);
        }

        // no epoch answered by two nodes
        Map<Long, Set<String>> nodesByEpoch = new TreeMap<>();
        for (Answer a : answers) {
          if (a.node() != null) {
            nodesByEpoch.computeIfAbsent(a.epoch(), e -> new TreeSet<>()).add(a.node());
          }
        }
        for (var e : nodesByEpoch.entrySet()) {
          assertEquals(1, e.getValue().size(), "epoch " + e.getKey() + " was answered by " + e.getValue());
        }
        // every client saw the epoch rise only
        Map<String, List<Long>> byObserver = new TreeMap<>();
        for (Answer a : answers) {
          byObserver.computeIfAbsent(a.observer(), o -> new ArrayList<>()).add(a.epoch());
        }
        for (var o : byObserver.entrySet()) {
          List<Long> seen = o.getValue();
          for (int i = 1; i < seen.size(); i++) {
            assertTrue(seen.get(i) >= seen.get(i - 1), o.getKey() + " saw epoch " + seen.get(i - 1) + " then "
                + seen.get(i));
          }
        }
        long leaderEpoch = after.epoch();
        assertTrue(leaderEpoch > seenBeforePromotion, "the new leader's epoch " + leaderEpoch
            + " is above every epoch answered before the promotion (" + seenBeforePromotion + ")");
        LocalCluster.Node leader = c.waitForLeader(Duration.ofSeconds(10));
        assertEquals(after.node(), leader.id(), "the node that answered first after the promotion still leads");
        assertEquals(!lostEpochsLeaderDowned, leader.id().equals(lostEpochsLeader.id()),
            "leads after the promotion: " + leader.id() + "; led the lost epoch: " + lostEpochsLeader.id());
        assertEquals(leaderEpoch, fenceEpoch(pg.standby(), db), "the promoted server's fence holds its epoch");

        // said loudly, once, by the node that took the epoch
        List<String> loud = logged.list.stream().map(ILoggingEvent::getFormattedMessage)
            .filter(m -> m.startsWith("STORE WENT BACK IN TIME")).toList();
        assertEquals(1, loud.size(), "STORE WENT BACK IN TIME logged once: " + loud);
        assertTrue(loud.get(0).contains("the fence was at epoch " + standbyEpoch + ", but this cluster already saw "
            + "epoch " + seenBeforePromotion) && loud.get(0).contains(leader.id() + " took epoch " + leaderEpoch),
            loud.get(0));

        // the journal read back from the promoted server: the lost epoch's election is missing, the rest rise
        List<Long> elected = c.journal().stream().filter(LeaderEvent.LeaderElected.class::isInstance)
            .map(LeaderEvent::epoch).toList();
        for (int i = 1; i < elected.size(); i++) {
          assertTrue(elected.get(i) > elected.get(i - 1), "elections on strictly rising epochs: " + elected);
        }
        assertTrue(elected.contains(leaderEpoch), "the new leader's election is journaled: " + elected);

        System.out.printf("async store failover (lost epoch's leader downed too: %s): epochs answered %s; standby's fence at %d, %d seen before the "
            + "promotion, %d after; first 200 on the new epoch %d ms after the promotion (%d ms through HAProxy); "
            + "journaled elections %s%n", lostEpochsLeaderDowned, nodesByEpoch, standbyEpoch, seenBeforePromotion, leaderEpoch,
            (after.atNanos() - promoted) / 1_000_000, (throughProxy.atNanos() - promoted) / 1_000_000, elected);
      }
    } finally {
      polling.set(false);
      for (Thread t : observers) {
        t.join(10_000);
      }
      leaderLog.detachAppender(logged);
    }
  }

  /** A client asking {@code url} (a leader check) every 20 ms; each 200 is recorded with the epoch it named. */
  private static Thread poll(String observer, String node, String url, List<Answer> into, AtomicBoolean polling) {
    Thread t = new Thread(() -> {
      HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2))
          .POST(HttpRequest.BodyPublishers.noBody()).build();
      while (polling.get()) {
        try {
          HttpResponse<Void> r = HTTP.send(req, HttpResponse.BodyHandlers.discarding());
          if (r.statusCode() == 200) {
            long epoch = Long.parseLong(r.headers().firstValue(HaRoutes.EPOCH_HEADER).orElseThrow(
                () -> new AssertionError(observer + ": a 200 without " + HaRoutes.EPOCH_HEADER)));
            into.add(new Answer(observer, node, epoch, System.nanoTime()));
          }
        } catch (java.io.IOException e) {
          // a node that is down, HAProxy without a leader: no answer
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "leader-check-" + observer);
    t.setDaemon(true);
    return t;
  }

  private static long fenceEpoch(PostgresServer server, String db) {
    return count(server, db, "SELECT epoch FROM pmm_ha_fence WHERE id = 1");
  }

  private static boolean tableExists(PostgresServer server, String db, String table) {
    return count(server, db, "SELECT count(*) FROM pg_tables WHERE tablename = '" + table + "'") == 1;
  }

  private static long count(PostgresServer server, String db, String sql) {
    try (Connection conn = DriverManager.getConnection(ReplicatedPostgres.url(server, db), server.user(),
            server.password());
        Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      return rs.next() ? rs.getLong(1) : -1;
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(sql + " on " + server.port() + ": " + e.getMessage(), e);
    }
  }

  private static void execute(PostgresServer server, String db, String sql) throws Exception {
    try (Connection conn = DriverManager.getConnection(ReplicatedPostgres.url(server, db), server.user(),
            server.password());
        Statement st = conn.createStatement()) {
      st.execute(sql);
    }
  }
}