package dev.pmmha.persistence;

import java.time.Instant;

/**
 * The leader's persisted state: the last epoch, who held it, since when, and whether it was released.
 * Survives every failover and a full restart of the cluster, so epochs only ever increase.
 */
public record LeaderHistory(long epoch, String nodeId, Instant since, boolean released)
    implements CborSerializable {

  public static final String PERSISTENCE_ID = "pmm-leader";

  public static LeaderHistory empty() {
    return new LeaderHistory(0, "", Instant.EPOCH, true);
  }

  public LeaderHistory apply(LeaderEvent event) {
    if (event instanceof LeaderEvent.LeaderElected e) {
      return new LeaderHistory(e.epoch(), e.nodeId(), e.at(), false);
    }
    if (event instanceof LeaderEvent.LeaderReleased r && r.epoch() == epoch) {
      return new LeaderHistory(epoch, nodeId, since, true);
    }
    return this;
  }
}
