package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.persistence.fence.FenceNotices;
import dev.pmmha.persistence.schema.Schema;
import dev.pmmha.runtime.cluster.NodeState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The node a hand-over names takes the fence on the release's notice, and only that node, once, and gives it back. */
class SuccessorTest {

  private static final AtomicInteger STORES = new AtomicInteger();

  private final NodeState node = new NodeState(true, 3, "node-2");
  private final StoreSettings store = StoreSettings.create(ConfigFactory.parseString(
          "pmm-ha.store { url = \"jdbc:h2:mem:successor" + STORES.incrementAndGet() + ";DB_CLOSE_DELAY=-1\", "
              + "username = sa, password = \"\", startup-wait = 3s }")
      .withFallback(ConfigFactory.defaultReference()).resolve());
  private final LeaderSettings settings = LeaderSettings.create(ConfigFactory.defaultReference().resolve());
  private final Fence storeView;
  private final Fence noticeConnection; // stands in for the connection a notice arrives on
  private final FenceClient fence;
  private final List<Long> asked = new ArrayList<>();
  private final AtomicBoolean mayTakeOver = new AtomicBoolean(true);

  SuccessorTest() {
    Schema.ensure(store);
    storeView = new Fence(store, settings.leaseTtl());
    noticeConnection = new Fence(store, settings.leaseTtl());
    fence = new FenceClient(new Fence(store, settings.leaseTtl()));
    node.membersChanged(new NodeState.Members(List.of(), true, false, "Up", 3));
  }

  @AfterEach
  void close() {
    fence.close();
    storeView.close();
    noticeConnection.close();
  }

  private Successor successor(Duration wait) {
    return new Successor(node, fence, settings, null, mayTakeOver::get, wait);
  }

  private FenceNotices.Taker taker() {
    return (holder, atLeast) -> {
      asked.add(atLeast);
      return noticeConnection.acquire(holder, atLeast);
    };
  }

  /** A previous leader of epoch 4 that released the fence (what the notice reports). */
  private void releasedByPreviousLeader() throws Exception {
    var lease = storeView.acquire("node-1/aaaa", 3).orElseThrow();
    assertEquals(4, lease.epoch());
    storeView.release(lease, "left");
  }

  /** Waits up to 5 s for the fence to be free (given back); the caller asserts that it is. */
  private void awaitFree() throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (!storeView.current().free() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
  }

  @Test
  void theNamedNodeTakesTheFenceOnTheNoticeAndAnswersForItsEpochOnce() throws Exception {
    releasedByPreviousLeader();
    Successor s = successor(Duration.ofSeconds(30));
    s.released(new FenceNotices.Released("node-3", 4), taker());
    assertTrue(asked.isEmpty(), "a notice that names another node is not acted on");
    assertEquals(0, node.ownEpoch());

    s.released(new FenceNotices.Released("node-2", 4), taker());
    assertEquals(List.of(4L), asked, "asked once, for an epoch above the released one");
    assertEquals(5, node.ownEpoch(), "the node answers for the epoch it took, before its singleton comes");
    assertTrue(node.mayAct());
    assertEquals(5, storeView.current().epoch());
    assertTrue(storeView.current().holder().startsWith("node-2/"));

    s.released(new FenceNotices.Released("node-2", 4), taker());
    assertEquals(1, asked.size(), "a second notice takes nothing more");

    Tenure t = s.take().orElseThrow();
    assertEquals(Tenure.Origin.NOTICE, t.origin);
    assertEquals(5, t.early.toCompletableFuture().get().lease().orElseThrow().epoch());
    assertTrue(s.take().isEmpty(), "the tenure is handed to one singleton only");
    t.cancelEarlyKeeper();
  }

  @Test
  void aNodeThatMayNotTakeOverOrWhoseSingletonCameFirstDoesNotAsk() throws Exception {
    releasedByPreviousLeader();
    Successor s = successor(Duration.ofSeconds(30));
    mayTakeOver.set(false); // leaving, stepping aside, or PMM_HA_NOFAILOVER
    s.released(new FenceNotices.Released("node-2", 4), taker());
    assertTrue(asked.isEmpty());

    mayTakeOver.set(true);
    assertTrue(s.take().isEmpty()); // the singleton started here first and asks for the fence itself
    s.released(new FenceNotices.Released("node-2", 4), taker());
    assertTrue(asked.isEmpty(), "a notice that comes after the singleton is not acted on");
    assertTrue(storeView.current().free());
  }

  @Test
  void aFenceTheSingletonDoesNotComeForIsGivenBackAndTheNodeStopsAnswering() throws Exception {
    releasedByPreviousLeader();
    Successor s = successor(Duration.ofMillis(300));
    s.released(new FenceNotices.Released("node-2", 4), taker());
    assertEquals(5, node.ownEpoch());
    awaitFree();
    assertTrue(storeView.current().free(), "given back: the singleton's node need not wait for the lease");
    assertEquals(5, storeView.current().epoch());
    assertEquals(0, node.ownEpoch(), "no more answers for it");
    assertFalse(node.mayAct());
    assertTrue(s.take().isEmpty(), "nothing left for a singleton that comes later");
  }

  @Test
  void whenTheFenceIsNotFreeNothingIsPreparedAndTheSingletonAsksItself() throws Exception {
    storeView.acquire("node-3/bbbb", 0).orElseThrow(); // someone else holds it (the notice was wrong)
    Successor s = successor(Duration.ofSeconds(30));
    s.released(new FenceNotices.Released("node-2", 0), taker());
    assertEquals(1, asked.size());
    assertEquals(0, node.ownEpoch());
    assertTrue(s.take().isEmpty(), "the singleton asks for the fence itself, and learns who holds it");
  }

  @Test
  void aSingletonThatStartsWhileTheNoticesTakeOverIsUnderWayAdoptsItAndNoSecondEpochIsTaken() throws Exception {
    releasedByPreviousLeader();
    Successor s = successor(Duration.ofSeconds(30));
    Tenure[] adopted = new Tenure[1];
    FenceNotices.Taker slow = (holder, atLeast) -> {
      adopted[0] = s.take().orElseThrow(); // the singleton starts here while the fence is being taken
      assertFalse(adopted[0].early.toCompletableFuture().isDone(), "it waits for the notice's request");
      return noticeConnection.acquire(holder, atLeast);
    };
    s.released(new FenceNotices.Released("node-2", 4), slow);
    assertEquals(5, adopted[0].early.toCompletableFuture().get().lease().orElseThrow().epoch());
    assertEquals(5, node.ownEpoch(), "the node answers for the one epoch taken");
    assertEquals(5, storeView.current().epoch());
    assertFalse(storeView.current().free(), "not given back: the singleton holds it");
    assertTrue(s.take().isEmpty(), "handed to one singleton only");
    adopted[0].cancelEarlyKeeper();
  }

  @Test
  void aSingletonThatAdoptedATakeOverThatFoundTheFenceHeldAsksForItAsItWouldHave() throws Exception {
    storeView.acquire("node-3/bbbb", 0).orElseThrow(); // someone else holds it (the notice was wrong)
    Successor s = successor(Duration.ofSeconds(30));
    Tenure[] adopted = new Tenure[1];
    FenceNotices.Taker slow = (holder, atLeast) -> {
      adopted[0] = s.take().orElseThrow();
      return noticeConnection.acquire(holder, atLeast);
    };
    s.released(new FenceNotices.Released("node-2", 0), slow);
    FenceClient.Acquired r = adopted[0].early.toCompletableFuture().get();
    assertTrue(r.lease().isEmpty());
    assertEquals("node-3/bbbb", r.heldBy().holder(), "the singleton learns who holds it, as from its own request");
    assertEquals(0, node.ownEpoch());
  }

  // --- a hand-over straight to an offered tenure ---

  /** The previous leader, still holding epoch 4 (it offers the fence before it lets go). */
  private Fence.Lease heldByPreviousLeader() throws Exception {
    var lease = storeView.acquire("node-1/aaaa", 3).orElseThrow();
    assertEquals(4, lease.epoch());
    return lease;
  }

  private static FenceNotices.HandedOver notice(String holder, Fence.Handed h) {
    return new FenceNotices.HandedOver(holder, h.epoch(), h.atMillis(), h.leaseMillis());
  }

  @Test
  void anOfferedNodeIsHandedTheFenceAndAnswersOnTheNoticeWithoutAStatementOfItsOwn() throws Exception {
    Fence.Lease old = heldByPreviousLeader();
    Successor s = successor(Duration.ofSeconds(30));
    String holder = s.offered(4, old.holder(), "stop (SIGTERM)");
    long accepted = System.nanoTime();
    assertTrue(holder.startsWith("node-2/"), holder);
    assertEquals("", s.offered(4, old.holder(), "again"), "one offer at a time");
    assertEquals(0, node.ownEpoch(), "an offer alone answers nothing");

    Fence.Handed h = storeView.handOver(old, "stop (SIGTERM)", holder).orElseThrow();
    s.handedOver(notice("node-3/bbbb", h));
    assertEquals(0, node.ownEpoch(), "a notice for another holder is not this node's");
    s.handedOver(notice(holder, h), "told by the cluster"); // the leader's word, straight after its statement
    assertEquals(5, node.ownEpoch(), "answers for the epoch it was handed, before its singleton comes");
    assertTrue(node.mayAct());
    assertTrue(asked.isEmpty(), "no statement of its own");
    s.handedOver(notice(holder, h)); // the store's notice, after it: nothing left to do

    Tenure t = s.take().orElseThrow();
    assertEquals(Tenure.Origin.OFFER, t.origin);
    assertEquals("told by the cluster", t.handedVia);
    Fence.Lease lease = t.early.toCompletableFuture().get().lease().orElseThrow();
    assertEquals(5, lease.epoch());
    assertEquals(holder, lease.holder());
    assertTrue(lease.sentNanos() <= accepted, "the lease counts from the offer, before the statement that gave it");
    assertEquals(settings.leaseTtl(), lease.ttl());
    assertEquals(4, lease.priorEpoch());
    assertEquals(new Fence.Release(old.holder(), h.atMillis(), "stop (SIGTERM)"), lease.priorRelease(),
        "the next leader journals the release as after a plain one");
    assertTrue(s.take().isEmpty(), "handed to one singleton only");
    t.cancelEarlyKeeper();
  }

  @Test
  void aSingletonThatComesBeforeTheHandOversNoticeReadsTheFenceAndALateNoticeChangesNothing() throws Exception {
    Fence.Lease old = heldByPreviousLeader();
    Successor s = successor(Duration.ofSeconds(30));
    String holder = s.offered(4, old.holder(), "left");
    long accepted = System.nanoTime();
    Fence.Handed h = storeView.handOver(old, "left", holder).orElseThrow();

    Tenure t = s.take().orElseThrow(); // the singleton starts here before the notice is handled
    Fence.Lease lease = t.early.toCompletableFuture().get(5, java.util.concurrent.TimeUnit.SECONDS).lease().orElseThrow();
    assertEquals(5, lease.epoch(), "found handed over by reading the fence");
    assertTrue(lease.sentNanos() <= accepted);
    assertEquals("left", lease.priorRelease().reason());
    assertEquals(5, node.ownEpoch());
    s.handedOver(notice(holder, h));
    assertEquals(5, storeView.current().epoch(), "no second epoch");
    assertTrue(s.take().isEmpty());
    t.cancelEarlyKeeper();
  }

  @Test
  void anOfferTheLeaderDidNotHandOverLeavesTheFenceToTheReleasesNoticeOrTheSingleton() throws Exception {
    Fence.Lease old = heldByPreviousLeader();
    Successor s = successor(Duration.ofSeconds(30));
    s.offered(4, old.holder(), "left");
    storeView.release(old, "left"); // the leader fell back to a release (too late for the offer, or it failed)
    s.released(new FenceNotices.Released("node-2", 4), taker());
    assertEquals(List.of(4L), asked, "the release's notice is taken as before");
    assertEquals(5, node.ownEpoch());
    Tenure first = s.take().orElseThrow();
    first.cancelEarlyKeeper();
    storeView.release(first.early.toCompletableFuture().get().lease().orElseThrow(), "left");

    // and a singleton that comes after an offer nobody handed over asks for the fence itself
    Successor s2 = new Successor(new NodeState(true, 3, "node-3"), fence, settings, null, () -> true,
        Duration.ofSeconds(30));
    Fence.Lease fifth = storeView.acquire("node-2/eeee", 0).orElseThrow();
    s2.offered(fifth.epoch(), fifth.holder(), "left");
    storeView.release(fifth, "left");
    Tenure t = s2.take().orElseThrow();
    Fence.Lease lease = t.early.toCompletableFuture().get(5, java.util.concurrent.TimeUnit.SECONDS).lease().orElseThrow();
    assertEquals(fifth.epoch() + 1, lease.epoch(), "taken by its own request");
    assertEquals(fifth.epoch(), lease.priorEpoch());
    assertEquals(Tenure.Origin.OFFER_NOT_TAKEN_UP, t.origin, "its line says the offer was not taken up, not handed over");
    int before = asked.size();
    // the release's notice, after the singleton's fence: the node leads by then and asks for nothing (a notice that
    // comes while the singleton's request is under way logs that the offer was not taken up: SwitchoverOnNoticeIT)
    s2.released(new FenceNotices.Released("node-3", fifth.epoch()), taker());
    assertEquals(before, asked.size(), "the singleton's request is the only one");
    t.cancelEarlyKeeper();
  }

  @Test
  void aHandedOverFenceWhoseNoticeAndSingletonNeverComeIsGivenBack() throws Exception {
    Fence.Lease old = heldByPreviousLeader();
    Successor s = successor(Duration.ofMillis(300));
    String holder = s.offered(4, old.holder(), "left");
    storeView.handOver(old, "left", holder).orElseThrow(); // its notice is lost
    assertFalse(storeView.current().free());
    awaitFree();
    assertTrue(storeView.current().free(), "given back: the real next leader need not wait for the lease");
    assertEquals(5, storeView.current().epoch());
    assertEquals(0, node.ownEpoch());
    assertTrue(s.take().isEmpty(), "nothing left for a singleton that comes later");
  }

  @Test
  void aNodeThatMayNotTakeOverDeclinesTheOffer() throws Exception {
    Fence.Lease old = heldByPreviousLeader();
    Successor s = successor(Duration.ofSeconds(30));
    mayTakeOver.set(false);
    assertEquals("", s.offered(4, old.holder(), "left"));
    mayTakeOver.set(true);
    assertTrue(s.take().isEmpty()); // its singleton started here: it asks for the fence itself
    assertEquals("", s.offered(4, old.holder(), "left"), "an offer after the singleton came is declined");
  }
}
