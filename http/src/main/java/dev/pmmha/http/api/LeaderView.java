package dev.pmmha.http.api;

import java.time.Instant;
import java.util.Optional;

/**
 * What the health routes need to know about leadership, answered from memory. Implemented by the runtime; the
 * routes never ask an actor or the database per request.
 */
public interface LeaderView {

  /** True only while this node's leader singleton runs and holds the fence (with time left on its lease), and the node is healthy. */
  boolean isLeader();

  /** The epoch this node leads, or 0; sent as {@code X-PMM-HA-Epoch} on leader answers. */
  long ownEpoch();

  /** The leader as this node last saw it: its own leadership, or the leader's latest announcement. */
  Optional<LeaderInfo> currentLeader();

  /**
   * Completed, except while this node hands its leadership over: then it completes once the next leader has
   * announced itself and a load balancer had time to put it in service (or after a bounded wait). The leader
   * check answers 503 only then, so that a load balancer's retry of that answer finds the new leader.
   */
  default java.util.concurrent.CompletionStage<Void> handOverSettled() {
    return java.util.concurrent.CompletableFuture.completedFuture(null);
  }

  record LeaderInfo(String nodeId, long epoch, Instant since) {}
}
