package dev.pmmha.runtime.cluster;

import java.time.Duration;

/**
 * When the node that hosts the leader singleton steps aside (Patroni's leader demotes when it cannot update its
 * key): it does not lead, its own store probe has failed for a lease TTL, most of the cluster reaches the store, and
 * another member may lead. Leadership is tied to the oldest member, so stepping aside means leaving the cluster:
 * the singleton moves to a node that can hold the fence. With the store down for everyone nothing moves.
 *
 * <p>Decided from this node's view ({@link Membership}, every second), not inside the leader actor: with the link
 * to the database broken, the actor can be stuck in a journal write or a recovery that only a timeout ends.
 */
final class StepAside {

  /** How recent a peer's store report must be to count (reports come every second). */
  static final Duration REPORT_FRESHNESS = Duration.ofSeconds(3);

  private StepAside() {}

  /**
   * @param troubleNanos how long this node's store probe has failed (0: it has not)
   * @param alivePeers the other alive members
   * @param peersReachingStore those of them that reported, within {@link #REPORT_FRESHNESS}, that they reach it
   */
  static boolean due(long troubleNanos, Duration leaseTtl, int alivePeers, int peersReachingStore,
      boolean anotherMayLead) {
    // a majority of the cluster, this node (which cannot reach the store) counted
    return troubleNanos >= leaseTtl.toNanos() && peersReachingStore * 2 > alivePeers + 1 && anotherMayLead;
  }
}
