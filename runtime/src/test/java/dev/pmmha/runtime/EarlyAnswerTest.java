package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.http.LeaderView.LeaderInfo;
import dev.pmmha.persistence.Fence;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** A new leader answers the leader check as soon as it holds the fence, before its journal is read. */
class EarlyAnswerTest {

  private static final Duration MARGIN = Duration.ofMillis(300);

  private static NodeState node() {
    NodeState n = new NodeState(true, 3, "node-2");
    n.membersChanged(new NodeState.Members(java.util.List.of(), true, false, true, "Up"));
    return n;
  }

  private static Fence.Lease lease(long epoch) {
    return new Fence.Lease(epoch, "node-2/abc", System.nanoTime(), Duration.ofSeconds(5));
  }

  @Test
  void theFenceAloneMakesTheNodeAnswerWithItsEpoch() {
    NodeState n = node();
    n.leaderAnnounced(new LeaderInfo("node-1", 7, Instant.now())); // the leader it knew, handing over
    Leader.Tenure t = new Leader.Tenure("node-2");
    t.answerEarly(n, lease(8), MARGIN);
    assertTrue(n.isLeader());
    assertEquals(8, n.currentLeader().orElseThrow().epoch());
    assertEquals("node-2", n.currentLeader().orElseThrow().nodeId());
  }

  @Test
  void anEpochNotAboveTheKnownOneWaitsForTheJournal() {
    NodeState n = node();
    n.leaderAnnounced(new LeaderInfo("node-1", 7, Instant.now()));
    Leader.Tenure t = new Leader.Tenure("node-2");
    t.answerEarly(n, lease(7), MARGIN); // a fence row reset behind what the cluster announced
    assertFalse(n.isLeader());
    assertEquals(7, n.currentLeader().orElseThrow().epoch());
    assertEquals("node-1", n.currentLeader().orElseThrow().nodeId());
  }

  @Test
  void noEarlyAnswerAfterTheTenureBeganToStop() {
    NodeState n = node();
    Leader.Tenure t = new Leader.Tenure("node-2");
    t.closeEarly(n); // asked to stop while the fence was still being taken
    t.answerEarly(n, lease(3), MARGIN);
    assertFalse(n.isLeader());
  }

  @Test
  void theEarlyAnswerEndsWithTheLeaseWhenNothingRenewsIt() throws InterruptedException {
    NodeState n = node();
    Leader.Tenure t = new Leader.Tenure("node-2");
    // a lease of 400 ms with a 300 ms margin: 100 ms to act, then the answer stops by itself
    t.answerEarly(n, new Fence.Lease(2, "node-2/abc", System.nanoTime(), Duration.ofMillis(400)), MARGIN);
    assertTrue(n.isLeader());
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (n.isLeader() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertFalse(n.isLeader());
    t.closeEarly(n);
    assertFalse(n.mayAct());
  }
}
