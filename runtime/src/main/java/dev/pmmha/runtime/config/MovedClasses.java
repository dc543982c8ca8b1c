package dev.pmmha.runtime.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import org.apache.pekko.serialization.jackson.JacksonMigration;

/**
 * Reads journal rows, snapshots and messages written under the class names of the flat `runtime` package (and of
 * the leader's events in `persistence`) before the classes moved to packages by concern. Registered under each
 * old name in {@code pekko.serialization.jackson.migrations}; the JSON itself did not change.
 */
public final class MovedClasses extends JacksonMigration {

  /** Old outer class name -> new one; nested classes ({@code Outer$Inner}) follow their outer class. */
  static final Map<String, String> MOVED = Map.of(
      "dev.pmmha.persistence.LeaderEvent", "dev.pmmha.runtime.leader.LeaderEvent",
      "dev.pmmha.persistence.LeaderState", "dev.pmmha.runtime.leader.LeaderState",
      "dev.pmmha.runtime.Leader", "dev.pmmha.runtime.leader.Leader",
      "dev.pmmha.runtime.Job", "dev.pmmha.runtime.jobs.Job");

  @Override
  public int currentVersion() {
    return 2;
  }

  @Override
  public String transformClassName(int fromVersion, String className) {
    return newName(className);
  }

  @Override
  public JsonNode transform(int fromVersion, JsonNode json) {
    return json;
  }

  static String newName(String className) {
    int nested = className.indexOf('$');
    String outer = nested < 0 ? className : className.substring(0, nested);
    String moved = MOVED.get(outer);
    return moved == null ? className : moved + (nested < 0 ? "" : className.substring(nested));
  }
}
