package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.pmmha.persistence.fence.Fence;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class NextAttemptTest {

  static final Duration INTERVAL = Duration.ofMillis(125);

  @Test
  void aLeaseAboutToRunOutIsTriedForJustAfterItDoes() {
    assertEquals(Duration.ofMillis(42), Leader.nextAttempt(new Fence.State(3, "node-1/x", 40, false), INTERVAL));
    assertEquals(Duration.ofMillis(2), Leader.nextAttempt(new Fence.State(3, "node-1/x", -10, false), INTERVAL),
        "already run out on the store's clock (the read was slow): at once");
  }

  @Test
  void otherwiseOnTheRenewInterval() {
    assertEquals(INTERVAL, Leader.nextAttempt(new Fence.State(3, "node-1/x", 1_500, false), INTERVAL),
        "a lease that still runs long: its holder may renew it");
    assertEquals(INTERVAL, Leader.nextAttempt(null, INTERVAL), "the store did not answer");
  }
}
