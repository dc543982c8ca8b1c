package dev.pmmha.http;

import java.time.Instant;
import java.util.Optional;

/**
 * What the health routes need to know about leadership, answered from memory. Implemented by the runtime; the
 * routes never ask an actor or the database per request.
 */
public interface LeaderView {

  /** True only while this node's leader singleton runs and its epoch is persisted, and the node is healthy. */
  boolean isLeader();

  /** The epoch this node leads, or 0; sent as {@code X-PMM-HA-Epoch} on leader answers. */
  long ownEpoch();

  /** The leader as this node last saw it: its own leadership, or the leader's latest announcement. */
  Optional<LeaderInfo> currentLeader();

  record LeaderInfo(String nodeId, long epoch, Instant since) {}
}
