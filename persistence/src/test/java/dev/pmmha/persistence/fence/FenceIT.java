package dev.pmmha.persistence.fence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.persistence.Connections;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.TestStores;
import dev.pmmha.testkit.WithPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The fence on both stores: take-over rules, epochs, and the journal trigger that rejects stale writes. */
@Tag("integration")
class FenceIT extends WithPostgres {

  static Stream<String> stores() {
    return TestStores.kinds();
  }

  static StoreSettings store(String kind) {
    return TestStores.fresh(kind, pg);
  }

  /** A notice handler that hears both kinds of notice: {@code released} for releases, {@code heard} for hand-overs. */
  static FenceNotices.Handler handler(java.util.function.BiConsumer<FenceNotices.Released, FenceNotices.Taker> released,
      java.util.function.Consumer<FenceNotices.HandedOver> handed) {
    return new FenceNotices.Handler() {
      @Override
      public void released(FenceNotices.Released notice, FenceNotices.Taker taker) {
        released.accept(notice, taker);
      }

      @Override
      public void handedOver(FenceNotices.HandedOver notice) {
        handed.accept(notice);
      }
    };
  }

  /** A journal row plus its epoch tag in one transaction, as pekko-persistence-jdbc writes a tagged event. */
  static void writeTagged(StoreSettings s, long seq, long epoch) throws SQLException {
    try (Connection c = Connections.open(s)) {
      c.setAutoCommit(false);
      long ordering;
      try (PreparedStatement st = c.prepareStatement(
          "INSERT INTO \"event_journal\" (\"persistence_id\", \"sequence_number\", \"deleted\", \"writer\", "
              + "\"write_timestamp\", \"adapter_manifest\", \"event_ser_id\", \"event_ser_manifest\", \"event_payload\") "
              + "VALUES ('p', ?, FALSE, 'w', 0, '', 1, 'm', ?)", new String[] {"ordering"})) {
        st.setLong(1, seq);
        st.setBytes(2, new byte[] {1});
        st.executeUpdate();
        try (var keys = st.getGeneratedKeys()) {
          keys.next();
          ordering = keys.getLong(1);
        }
      }
      try (PreparedStatement st = c.prepareStatement("INSERT INTO \"event_tag\" (\"event_id\", \"tag\") VALUES (?, ?)")) {
        st.setLong(1, ordering);
        st.setString(2, Fence.epochTag(epoch));
        st.executeUpdate();
        c.commit();
      } catch (SQLException e) {
        c.rollback();
        throw e;
      }
    }
  }

  static long journalRows(StoreSettings s) throws SQLException {
    try (Connection c = Connections.open(s); var st = c.createStatement();
        var rs = st.executeQuery("SELECT count(*) FROM \"event_journal\"")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void oneHolderAtATimeWithAnEpochBumpOnEveryTakeOver(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence b = new Fence(s, Duration.ofSeconds(30))) {
      Fence.Lease la = a.acquire("a", 0).orElseThrow();
      assertEquals(1, la.epoch());
      assertTrue(b.acquire("b", 0).isEmpty(), "held and unexpired: no take-over");
      assertTrue(a.renew(la).isPresent());
      a.release(la);
      assertTrue(a.current().free());
      Fence.Lease lb = b.acquire("b", 0).orElseThrow();
      assertEquals(2, lb.epoch());
      assertTrue(a.renew(la).isEmpty(), "the old holder cannot renew a lease it lost");
      Fence.State now = a.current();
      assertEquals(2, now.epoch());
      assertEquals("b", now.holder());
      assertFalse(now.released());
      assertTrue(now.remainingMillis() > 25_000 && now.remainingMillis() <= 30_000, "lease of 30 s: " + now);
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void anExpiredLeaseCanBeTakenAndTheEpochNeverGoesBelowTheJournals(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofMillis(300)); Fence b = new Fence(s, Duration.ofMillis(300))) {
      Fence.Lease la = a.acquire("a", 41).orElseThrow();
      assertEquals(42, la.epoch(), "above the epoch the caller already knows");
      Thread.sleep(400);
      assertTrue(a.current().remainingMillis() <= 0);
      assertTrue(a.renew(la).isEmpty(), "an expired lease is not renewed");
      assertEquals(43, b.acquire("b", 0).orElseThrow().epoch());
    }
  }

  /** The leader compares the epoch before its take-over with the epochs it saw, to tell a store that went back. */
  @ParameterizedTest
  @MethodSource("stores")
  void aTakeOverReportsTheEpochTheFenceHadBeforeIt(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence b = new Fence(s, Duration.ofSeconds(30))) {
      Fence.Lease la = a.acquire("a", 0).orElseThrow();
      assertEquals(0, la.priorEpoch(), "a new fence row stands at epoch 0");
      assertEquals(-1, a.renew(la).orElseThrow().priorEpoch(), "a renewal takes nothing over");
      a.release(la);
      Fence.Lease lb = b.acquire("b", 6).orElseThrow();
      assertEquals(1, lb.priorEpoch(), "the row's epoch before, not the floor asked for");
      assertEquals(7, lb.epoch());
      assertTrue(a.acquire("a", 0).isEmpty(), "held: nothing taken, the fence untouched");
      assertEquals(7, a.current().epoch());
    }
  }

  /** A hand-over's release carries its reason to the next take-over, which journals it; a lease that ran out none. */
  @ParameterizedTest
  @MethodSource("stores")
  void aTakeOverReportsHowTheEpochBeforeItEnded(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofMillis(300)); Fence b = new Fence(s, Duration.ofMillis(300))) {
      Fence.Lease la = a.acquire("a/1", 0).orElseThrow();
      a.release(la, "stop (SIGTERM)");
      a.release(la, "again"); // a second release leaves the first as it was
      Fence.Lease lb = b.acquire("b/1", 0).orElseThrow();
      assertEquals(la.epoch(), lb.priorEpoch());
      assertEquals("a/1", lb.priorRelease().holder());
      assertEquals("stop (SIGTERM)", lb.priorRelease().reason());
      long now = System.currentTimeMillis();
      assertTrue(Math.abs(lb.priorRelease().atMillis() - now) < 60_000, "the release's time: " + lb.priorRelease());

      Thread.sleep(400); // b's lease runs out, unreleased
      Fence.Lease la2 = a.acquire("a/2", 0).orElseThrow();
      assertEquals(lb.epoch(), la2.priorEpoch());
      assertEquals(null, la2.priorRelease(), "a lease that ran out was not released");
      assertEquals(null, a.renew(la2).orElseThrow().priorRelease(), "a renewal takes nothing over");
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void theJournalAcceptsOnlyTheCurrentEpochsWrites(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence b = new Fence(s, Duration.ofSeconds(30))) {
      Fence.Lease la = a.acquire("a", 0).orElseThrow();
      writeTagged(s, 1, la.epoch());
      assertEquals(1, journalRows(s));
      a.release(la);
      assertThrows(SQLException.class, () -> writeTagged(s, 2, la.epoch()), "released: rejected");
      Fence.Lease lb = b.acquire("b", 0).orElseThrow();
      SQLException stale = assertThrows(SQLException.class, () -> writeTagged(s, 2, la.epoch()));
      assertTrue(stale.getMessage().contains("pmm-ha fence"), stale.getMessage());
      assertEquals(1, journalRows(s), "the rejected event rolled back with its tag");
      writeTagged(s, 2, lb.epoch());
      assertEquals(2, journalRows(s));
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void aWriteAfterTheLeaseExpiredIsRejectedEvenWithoutATakeOver(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofMillis(200))) {
      Fence.Lease la = a.acquire("a", 0).orElseThrow();
      Thread.sleep(300);
      assertThrows(SQLException.class, () -> writeTagged(s, 1, la.epoch()));
      assertFalse(a.current().released());
    }
  }

  @org.junit.jupiter.api.Test
  void aHandOversReleaseTellsTheNextNodeWhichTakesTheFenceThroughTheNoticesConnection() throws Exception {
    StoreSettings s = store("postgres");
    var heard = new java.util.concurrent.LinkedBlockingQueue<Object>();
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence view = new Fence(s, Duration.ofSeconds(30));
        FenceNotices notices = FenceNotices.start(s, view, handler((notice, taker) -> {
          heard.add(notice);
          try {
            heard.add(taker.acquire("node-2/cccc", notice.epoch()).map(l -> (Object) l).orElse("not taken"));
          } catch (SQLException e) {
            heard.add(e);
          }
        }, heard::add)).orElseThrow()) {
      Fence.Lease first = a.acquire("node-1/aaaa", 0).orElseThrow();
      Thread.sleep(500); // LISTEN is in place (its thread connects first)
      a.release(first, "left", "node-2");
      long sent = System.nanoTime();
      assertEquals(new FenceNotices.Released("node-2", first.epoch()), heard.poll(5, java.util.concurrent.TimeUnit.SECONDS));
      Object taken = heard.poll(5, java.util.concurrent.TimeUnit.SECONDS);
      assertTrue(taken instanceof Fence.Lease, "taken through the notice's connection: " + taken);
      Fence.Lease lease = (Fence.Lease) taken;
      assertEquals(first.epoch() + 1, lease.epoch());
      assertEquals(first.epoch(), lease.priorEpoch());
      assertEquals("left", lease.priorRelease().reason(), "the release's reason reaches the next leader as usual");
      assertEquals("node-2/cccc", view.current().holder());
      assertTrue(System.nanoTime() - sent < Duration.ofSeconds(2).toNanos());
      assertTrue(view.acquire("node-3/dddd", 0).isEmpty(), "held by the node that was told");
    }
  }

  @org.junit.jupiter.api.Test
  void aReleaseThatReleasesNothingTellsNobodyAndH2HasNoNotices() throws Exception {
    assertTrue(FenceNotices.start(store("h2"), null, handler((n, t) -> { }, n -> { })).isEmpty(), "H2: no notices");
    StoreSettings s = store("postgres");
    var heard = new java.util.concurrent.LinkedBlockingQueue<Object>();
    try (Fence a = new Fence(s, Duration.ofSeconds(30));
        FenceNotices notices = FenceNotices.start(s, a, handler((notice, taker) -> heard.add(notice), heard::add))
            .orElseThrow()) {
      Fence.Lease first = a.acquire("node-1/aaaa", 0).orElseThrow();
      Thread.sleep(500);
      a.release(first, "left", "");
      a.release(first, "again", "node-2"); // already released: nothing changes, nobody is told
      assertEquals(null, heard.poll(1, java.util.concurrent.TimeUnit.SECONDS));
      assertTrue(a.current().free());
      assertEquals(first.epoch(), a.current().epoch());
    }
  }

  /**
   * A hand-over gives the fence straight to the next node's tenure: the next epoch, a full lease, the release recorded
   * for the next leader, and a notice to that holder when it commits; nobody else can take the fence meanwhile, the old
   * holder cannot renew, and a second hand-over of the same lease changes nothing.
   */
  @org.junit.jupiter.api.Test
  void aHandOverGivesTheFenceStraightToTheAcceptedHolderAndTellsIt() throws Exception {
    StoreSettings s = store("postgres");
    var heard = new java.util.concurrent.LinkedBlockingQueue<Object>();
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence view = new Fence(s, Duration.ofSeconds(30));
        FenceNotices notices = FenceNotices.start(s, view, handler((notice, taker) -> heard.add(notice), heard::add))
            .orElseThrow()) {
      Fence.Lease first = a.acquire("node-1/aaaa", 0).orElseThrow();
      Thread.sleep(500); // LISTEN is in place (its thread connects first)
      Fence.Handed handed = a.handOver(first, "stop (SIGTERM)", "node-2/cccc").orElseThrow();
      assertEquals(first.epoch() + 1, handed.epoch());
      assertEquals(30_000, handed.leaseMillis(), "the handing fence's lease");
      assertEquals(new FenceNotices.HandedOver("node-2/cccc", handed.epoch(), handed.atMillis(), 30_000),
          heard.poll(5, java.util.concurrent.TimeUnit.SECONDS));
      Fence.State state = view.current();
      assertEquals("node-2/cccc", state.holder());
      assertFalse(state.free(), "held, with a running lease");
      assertTrue(state.remainingMillis() > 25_000, "a full lease: " + state.remainingMillis());
      assertTrue(view.acquire("node-3/dddd", 0).isEmpty(), "nobody else takes it");
      assertTrue(a.renew(first).isEmpty(), "the old holder cannot renew");
      assertTrue(a.handOver(first, "again", "node-3/dddd").isEmpty(), "a second hand-over changes nothing");
      assertEquals(null, heard.poll(500, java.util.concurrent.TimeUnit.MILLISECONDS), "and tells nobody");
      assertEquals(java.util.Optional.of(handed), view.heldBy("node-2/cccc"));
      assertTrue(view.heldBy("node-3/dddd").isEmpty());
      // the new holder renews and releases it as its own; the next leader after it journals that release
      Fence.Lease second = new Fence.Lease(handed.epoch(), "node-2/cccc", System.nanoTime(), Duration.ofSeconds(30));
      assertTrue(view.renew(second).isPresent(), "renewed by its new holder");
      view.release(second, "left");
      Fence.Lease third = view.acquire("node-3/dddd", 0).orElseThrow();
      assertEquals(handed.epoch() + 1, third.epoch());
      assertEquals("left", third.priorRelease().reason());
    }
  }

  /** On either store: the hand-over's row, and what a holder whose notice did not come reads to learn of it. */
  @ParameterizedTest
  @MethodSource("stores")
  void aHandedOverFenceIsFoundByItsHolder(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence view = new Fence(s, Duration.ofSeconds(30))) {
      Fence.Lease first = a.acquire("node-1/aaaa", 0).orElseThrow();
      assertTrue(view.heldBy("node-2/cccc").isEmpty());
      Fence.Handed handed = a.handOver(first, "left", "node-2/cccc").orElseThrow();
      assertEquals(java.util.Optional.of(handed), view.heldBy("node-2/cccc"));
      assertEquals(first.epoch() + 1, view.current().epoch());
      assertTrue(view.acquire("node-3/dddd", 0).isEmpty());
      view.release(new Fence.Lease(handed.epoch(), "node-2/cccc", System.nanoTime(), Duration.ofSeconds(30)), "back");
      assertTrue(view.heldBy("node-2/cccc").isEmpty(), "given back: no longer held");
      assertTrue(a.handOver(first, "late", "node-3/dddd").isEmpty(), "a stale lease hands nothing over");
    }
  }

  /**
   * A hand-over's release has a connection and a lock of its own: it does not wait for a renewal or a read under way
   * on the fence's other connection (here the test holds the monitor those take, as a renewal under way does).
   */
  @ParameterizedTest
  @MethodSource("stores")
  void aReleaseDoesNotWaitBehindACallUnderWayOnTheOtherConnection(String kind) throws Exception {
    StoreSettings s = store(kind);
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence view = new Fence(s, Duration.ofSeconds(30))) {
      Fence.Lease la = a.acquire("a", 0).orElseThrow();
      a.openReleaseLane();
      synchronized (a) {
        var released = java.util.concurrent.CompletableFuture.runAsync(() -> {
          try {
            a.release(la, "left");
          } catch (SQLException e) {
            throw new IllegalStateException(e);
          }
        });
        released.get(5, java.util.concurrent.TimeUnit.SECONDS); // times out if it waits for the monitor
        assertTrue(view.current().released(), "released while the other connection's monitor is held");
      }
      assertTrue(a.renew(la).isEmpty(), "a renewal after the release brings nothing back");
      assertEquals("left", view.acquire("b", 0).orElseThrow().priorRelease().reason());
    }
  }

  /** The release lane stays open for a whole tenure; one the server closed meanwhile is replaced, once, at once. */
  @org.junit.jupiter.api.Test
  void aReleaseLaneTheServerClosedIsReplacedAndTheReleaseGoesThrough() throws Exception {
    StoreSettings s = store("postgres");
    try (Fence a = new Fence(s, Duration.ofSeconds(30)); Fence view = new Fence(s, Duration.ofSeconds(30))) {
      Fence.Lease la = a.acquire("a", 0).orElseThrow();
      a.openReleaseLane();
      int ended;
      try (Connection c = Connections.open(s); var st = c.createStatement(); var rs = st.executeQuery(
          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
              + "WHERE datname = current_database() AND pid <> pg_backend_pid()")) {
        rs.next();
        ended = rs.getInt(1);
      }
      assertTrue(ended >= 2, "the fence's two connections ended by the server: " + ended);
      a.release(la, "left");
      Fence.State now = view.current();
      assertTrue(now.released(), "released on a new lane connection: " + now);
      assertEquals(la.epoch(), now.epoch());
    }
  }
}
