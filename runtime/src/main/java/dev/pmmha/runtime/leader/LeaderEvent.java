package dev.pmmha.runtime.leader;

import dev.pmmha.persistence.CborSerializable;
import java.time.Instant;

/**
 * Events of the leader, journaled under {@link LeaderState#PERSISTENCE_ID}. Each is a fenced write of its
 * {@link #epoch()}: the store accepts it only while that epoch holds the fence.
 */
public sealed interface LeaderEvent extends CborSerializable {

  long epoch();

  /** A node became the PMM leader with a new, higher epoch. */
  record LeaderElected(long epoch, String nodeId, Instant at) implements LeaderEvent {}

  /** The leader of {@code epoch} gave leadership up on purpose (graceful leave or hand-over). */
  record LeaderReleased(long epoch, String nodeId, Instant at, String reason) implements LeaderEvent {
    /** {@code reason} is null in rows written before it was recorded. */
    public LeaderReleased(long epoch, String nodeId, Instant at) {
      this(epoch, nodeId, at, null);
    }
  }

  /** A cluster-wide setting was written; {@code json} is its JSON value, {@code version} the new settings version. */
  record SettingChanged(long epoch, String key, String json, long version, String nodeId, Instant at)
      implements LeaderEvent {}

  /** A cluster-wide setting was deleted. */
  record SettingRemoved(long epoch, String key, long version, String nodeId, Instant at) implements LeaderEvent {}
}
