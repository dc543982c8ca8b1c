package dev.pmmha.runtime.leader;

import dev.pmmha.persistence.CborSerializable;
import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The leader's persisted state: the last epoch, who held it, since when, whether it was released, and the
 * cluster-wide settings with their version. Survives every failover and a full restart of the cluster, so epochs
 * and setting versions only ever increase.
 */
public record LeaderState(
    long epoch, String nodeId, Instant since, boolean released, long settingsVersion, Map<String, Setting> settings)
    implements CborSerializable {

  public static final String PERSISTENCE_ID = "pmm-leader";

  /** One setting: its JSON value as text, the version that wrote it, when and by which leader. */
  public record Setting(String json, long version, Instant updatedAt, String updatedBy) implements CborSerializable {}

  public LeaderState {
    settings = Collections.unmodifiableMap(new TreeMap<>(settings));
  }

  public static LeaderState empty() {
    return new LeaderState(0, "", Instant.EPOCH, true, 0, Map.of());
  }

  public LeaderState apply(LeaderEvent event) {
    if (event instanceof LeaderEvent.LeaderElected e) {
      return new LeaderState(e.epoch(), e.nodeId(), e.at(), false, settingsVersion, settings);
    }
    if (event instanceof LeaderEvent.LeaderReleased r) {
      return r.epoch() == epoch ? new LeaderState(epoch, nodeId, since, true, settingsVersion, settings) : this;
    }
    if (event instanceof LeaderEvent.SettingChanged c) {
      Map<String, Setting> next = new TreeMap<>(settings);
      next.put(c.key(), new Setting(c.json(), c.version(), c.at(), c.nodeId()));
      return new LeaderState(epoch, nodeId, since, released, c.version(), next);
    }
    if (event instanceof LeaderEvent.SettingRemoved d) {
      Map<String, Setting> next = new TreeMap<>(settings);
      next.remove(d.key());
      return new LeaderState(epoch, nodeId, since, released, d.version(), next);
    }
    return this;
  }
}
