package dev.pmmha.runtime.cluster;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.http.api.LeaderView.LeaderInfo;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The stepping-down leader's 503 waits for the next leader (plus a check interval), bounded. */
class HandOverHoldTest {

  @Test
  void settledAfterTheNextLeaderIsAnnouncedPlusTheTail() throws Exception {
    NodeState node = new NodeState(true, 3, "pmm-1");
    assertTrue(node.handOverSettled().toCompletableFuture().isDone(), "no hand-over: nothing to wait for");

    node.handOverStarted(4, Duration.ofMillis(200), Duration.ofSeconds(10));
    CompletableFuture<Void> settled = node.handOverSettled().toCompletableFuture();
    node.leaderAnnounced(new LeaderInfo("pmm-1", 4, Instant.now())); // its own epoch again: not a new leader
    Thread.sleep(300);
    assertFalse(settled.isDone(), "an announcement of the old epoch settles nothing");

    long t0 = System.nanoTime();
    node.leaderAnnounced(new LeaderInfo("pmm-2", 5, Instant.now()));
    assertFalse(settled.isDone(), "not before the tail");
    settled.get(5, TimeUnit.SECONDS);
    long waited = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(waited >= 190 && waited < 3000, "settled about 200 ms after the new leader: " + waited + " ms");
  }

  @Test
  void settledAfterTheMaximumWhenNoLeaderIsHeardOf() throws Exception {
    NodeState node = new NodeState(true, 3, "pmm-1");
    long t0 = System.nanoTime();
    node.handOverStarted(4, Duration.ofMillis(200), Duration.ofMillis(500));
    node.handOverSettled().toCompletableFuture().get(5, TimeUnit.SECONDS);
    long waited = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(waited >= 490, "held for the maximum: " + waited + " ms");
  }
}
