package dev.pmmha.runtime.cluster;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class StepAsideTest {

  static final Duration TTL = Duration.ofSeconds(2);
  static final long LONG_ENOUGH = TTL.toNanos();

  @Test
  void onlyAfterALeaseTtlOfTroubleWhileMostOfTheClusterReachesTheStoreAndAnotherMemberMayLead() {
    assertTrue(StepAside.due(LONG_ENOUGH, TTL, 2, 2, true), "three nodes, both peers reach the store");
    assertFalse(StepAside.due(LONG_ENOUGH - 1, TTL, 2, 2, true), "not before a lease TTL");
    assertFalse(StepAside.due(LONG_ENOUGH, TTL, 2, 1, true), "one peer of two: not a majority of the cluster");
    assertFalse(StepAside.due(LONG_ENOUGH, TTL, 2, 0, true), "the store is down for everyone: nothing moves");
    assertFalse(StepAside.due(LONG_ENOUGH, TTL, 2, 2, false), "nobody else may lead (PMM_HA_NOFAILOVER)");
    assertTrue(StepAside.due(LONG_ENOUGH, TTL, 4, 3, true), "five nodes, three peers reach it");
    assertFalse(StepAside.due(LONG_ENOUGH, TTL, 4, 2, true), "five nodes, two peers: three of five cannot");
    assertFalse(StepAside.due(LONG_ENOUGH, TTL, 0, 0, true), "alone");
  }
}
