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

  /** This node's copy: every acknowledged write is in it within about a second. */
  Snapshot snapshot();

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

  /** No leader answered in time (failover under way, or no majority): retry later. */
  final class NoLeaderException extends RuntimeException {
    public NoLeaderException(String message) {
      super(message);
    }
  }
}
