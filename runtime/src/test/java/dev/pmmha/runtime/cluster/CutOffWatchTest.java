package dev.pmmha.runtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class CutOffWatchTest {

  private static final long S = 1_000_000_000L;

  @Test
  void aNodeAloneWhileAnotherRenewsTheFenceIsCutOffAfterThePatience() {
    CutOffWatch w = new CutOffWatch(Duration.ofSeconds(10));
    assertFalse(w.observe(0, 1, 3, false, true));
    assertFalse(w.observe(9 * S, 1, 3, false, true), "not before the patience");
    assertTrue(w.observe(10 * S, 1, 3, false, true));
  }

  @Test
  void anyBreakStartsThePatienceAgain() {
    CutOffWatch w = new CutOffWatch(Duration.ofSeconds(10));
    assertFalse(w.observe(0, 1, 3, false, true));
    assertFalse(w.observe(5 * S, 1, 3, false, false), "the lease ran out: nobody leads elsewhere");
    assertFalse(w.observe(6 * S, 1, 3, false, true));
    assertFalse(w.observe(15 * S, 1, 3, false, true), "9 s since the break");
    assertTrue(w.observe(16 * S, 1, 3, false, true));
  }

  @Test
  void notCutOff() {
    CutOffWatch w = new CutOffWatch(Duration.ofSeconds(10));
    for (long t = 0; t <= 60; t += 5) {
      assertFalse(w.observe(t * S, 2, 3, false, true), "a majority of the expected nodes");
      assertFalse(w.observe(t * S, 1, 3, true, true), "the holder is a member here (a leader stepping down)");
      assertFalse(w.observe(t * S, 1, 3, false, false), "alone because the others are dead: nobody renews");
      assertFalse(w.observe(t * S, 1, 1, false, true), "a one-node setup");
    }
  }

  @Test
  void theHolderNodeIsTheFenceHolderWithoutItsRandomPart() {
    assertEquals("pmm-b", CutOffWatch.holderNode("pmm-b/465e7c97"));
    assertEquals("node/with/slash", CutOffWatch.holderNode("node/with/slash/465e7c97"));
    assertEquals("plain", CutOffWatch.holderNode("plain"));
  }
}
