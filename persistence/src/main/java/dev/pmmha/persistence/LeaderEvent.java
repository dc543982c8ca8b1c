package dev.pmmha.persistence;

import java.time.Instant;

/** Events of the leader's history, journaled under {@link LeaderHistory#PERSISTENCE_ID}. */
public sealed interface LeaderEvent extends CborSerializable {

  long epoch();

  /** A node became the PMM leader; {@code epoch} is the previous epoch plus one. */
  record LeaderElected(long epoch, String nodeId, Instant at) implements LeaderEvent {}

  /** The leader of {@code epoch} gave leadership up on purpose (graceful leave or hand-over). */
  record LeaderReleased(long epoch, String nodeId, Instant at) implements LeaderEvent {}
}
