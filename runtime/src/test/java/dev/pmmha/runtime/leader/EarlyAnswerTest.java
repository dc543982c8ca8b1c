package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.http.api.LeaderView.LeaderInfo;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.runtime.cluster.NodeState;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** A new leader answers the leader check as soon as it holds the fence, before its journal is read. */
class EarlyAnswerTest {

  private static final Duration MARGIN = Duration.ofMillis(300);
  private static final java.util.function.Function<Fence.Lease, FenceClient.Keeper> NO_KEEPER = l -> null;

  private static NodeState node() {
    NodeState n = new NodeState(true, 3, "node-2");
    n.membersChanged(new NodeState.Members(java.util.List.of(), true, false, "Up", 1));
    return n;
  }

  private static Fence.Lease lease(long epoch) {
    return new Fence.Lease(epoch, "node-2/abc", System.nanoTime(), Duration.ofSeconds(5));
  }

  @Test
  void theFenceAloneMakesTheNodeAnswerWithItsEpoch() {
    NodeState n = node();
    n.leaderAnnounced(new LeaderInfo("node-1", 7, Instant.now())); // the leader it knew, handing over
    Tenure t = new Tenure("node-2");
    t.answerEarly(n, lease(8), MARGIN, NO_KEEPER);
    assertTrue(n.isLeader());
    assertEquals(8, n.currentLeader().orElseThrow().epoch());
    assertEquals("node-2", n.currentLeader().orElseThrow().nodeId());
  }

  @Test
  void anEpochNotAboveTheKnownOneWaitsForTheJournal() {
    NodeState n = node();
    n.leaderAnnounced(new LeaderInfo("node-1", 7, Instant.now()));
    Tenure t = new Tenure("node-2");
    t.answerEarly(n, lease(7), MARGIN, NO_KEEPER); // a fence row reset behind what the cluster announced
    assertFalse(n.isLeader());
    assertEquals(7, n.currentLeader().orElseThrow().epoch());
    assertEquals("node-1", n.currentLeader().orElseThrow().nodeId());
  }

  @Test
  void noEarlyAnswerAfterTheTenureBeganToStop() {
    NodeState n = node();
    Tenure t = new Tenure("node-2");
    t.closeEarly(n); // asked to stop while the fence was still being taken
    t.answerEarly(n, lease(3), MARGIN, NO_KEEPER);
    assertFalse(n.isLeader());
  }

  @Test
  void theEarlyAnswerEndsWithTheLeaseWhenNothingRenewsIt() throws InterruptedException {
    NodeState n = node();
    Tenure t = new Tenure("node-2");
    // a lease of 400 ms with a 300 ms margin: 100 ms to act, then the answer stops by itself
    t.answerEarly(n, new Fence.Lease(2, "node-2/abc", System.nanoTime(), Duration.ofMillis(400)), MARGIN, NO_KEEPER);
    assertTrue(n.isLeader());
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (n.isLeader() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertFalse(n.isLeader());
    t.closeEarly(n);
    assertFalse(n.mayAct());
  }

  /**
   * The lease taken at start is kept from the moment it is taken, whatever the epoch (a slow recovery must not let
   * it run out: CI saw a 3 s recovery cost the first leader its epoch), once, and never after the actor adopted
   * it or the tenure began to stop.
   */
  @Test
  void theFenceTakenAtStartIsKeptFromTheMomentItIsTakenUntilTheActorAdoptsIt() {
    NodeState n = node();
    n.leaderAnnounced(new LeaderInfo("node-1", 7, Instant.now()));
    java.util.List<Long> kept = new java.util.ArrayList<>();
    java.util.function.Function<Fence.Lease, FenceClient.Keeper> keep = l -> {
      kept.add(l.epoch());
      return null;
    };
    Tenure t = new Tenure("node-2");
    t.answerEarly(n, lease(7), MARGIN, keep); // not answered (epoch not above the known one), but kept
    assertEquals(java.util.List.of(7L), kept);
    assertFalse(n.isLeader());

    Tenure adopted = new Tenure("node-2");
    adopted.adoptEarlyKeeper(); // the actor handled the fence before the early callback ran
    adopted.answerEarly(n, lease(8), MARGIN, keep);
    assertEquals(java.util.List.of(7L), kept, "no second keeper beside the actor's own");
    assertFalse(n.isLeader(), "no early answer after the actor took over");

    Tenure stopping = new Tenure("node-2");
    stopping.closeEarly(n);
    stopping.answerEarly(n, lease(9), MARGIN, keep);
    assertEquals(java.util.List.of(7L), kept);
  }
}
