package dev.pmmha.http.api;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * Cluster-wide settings as the routes need them: reads from this node's replica (memory), writes forwarded to
 * the leader, which persists them before it answers. The records are the wire shapes: the routes render them as
 * they are.
 */
public interface SettingsApi {

  /**
   * This node's copy, once it is known to have every acknowledged write (the current leader has said which
   * version is current, and the copy has it): a read never denies an acknowledged write. Waits for that, bounded,
   * and fails with {@link NotCurrentException} when it does not come in time (no leader, or just started).
   */
  CompletionStage<Snapshot> read();

  /**
   * The leader's own copy, which has every acknowledged write (it persisted each before acknowledging it): for an
   * answer that says a setting does not exist, which this node's copy may say for a write acknowledged a moment
   * ago elsewhere. Fails with {@link NotCurrentException} when the leader does not answer in time.
   */
  CompletionStage<Snapshot> latest();

  /** Completes with the new version once the leader has persisted the value; fails with {@link NoLeaderException}. */
  CompletionStage<WriteAck> put(String key, JsonNode value);

  CompletionStage<WriteAck> delete(String key);

  /** One setting: its JSON value (parsed once per snapshot, not per read) and who wrote which version when. */
  record Setting(String key, JsonNode value, long version, Instant updatedAt, String updatedBy) {}

  record Snapshot(long version, Map<String, Setting> settings) {
    public static final Snapshot EMPTY = new Snapshot(0, Map.of());
  }

  /** {@code existed} is false for a delete of a key that was not set (answered 404, so it is not rendered). */
  record WriteAck(String key, long version, long epoch, @JsonIgnore boolean existed) {}

  /** This node's copy is not known to be current (no leader has said which version is): retry later. */
  final class NotCurrentException extends RuntimeException {
    public NotCurrentException(String message) {
      super(message);
    }
  }

  /** No leader answered in time (failover under way, or no majority): retry later. */
  final class NoLeaderException extends RuntimeException {
    public NoLeaderException(String message) {
      super(message);
    }
  }
}
