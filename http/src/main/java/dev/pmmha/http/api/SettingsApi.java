package dev.pmmha.http.api;

import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * Cluster-wide settings as the routes need them: reads from this node's replica (memory), writes forwarded to
 * the leader, which persists them before it answers.
 */
public interface SettingsApi {

  /** This node's copy: every acknowledged write is in it within about a second. */
  Snapshot snapshot();

  /** Completes with the new version once the leader has persisted the value; fails with {@link NoLeaderException}. */
  CompletionStage<WriteAck> put(String key, String json);

  CompletionStage<WriteAck> delete(String key);

  record Entry(String json, long version, Instant updatedAt, String updatedBy) {}

  record Snapshot(long version, Map<String, Entry> settings) {}

  /** {@code existed} is false for a delete of a key that was not set. */
  record WriteAck(String key, long version, long epoch, boolean existed) {}

  /** No leader answered in time (failover under way, or no majority): retry later. */
  final class NoLeaderException extends RuntimeException {
    public NoLeaderException(String message) {
      super(message);
    }
  }
}
