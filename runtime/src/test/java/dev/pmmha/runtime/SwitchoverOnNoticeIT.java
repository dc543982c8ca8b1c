package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;

/**
 * {@link SwitchoverIT} with the defaults, so with the notice take-over on ({@code PMM_HA_TAKE_OVER_ON_NOTICE}, on
 * unless set to false; the log checks below fail if it is off): each release names the
 * switchover's candidate, which takes the fence on the notice. The same checks hold (the epoch the switchover reports
 * is the one the candidate holds: no second epoch when its singleton starts while the notice's request is under
 * way), and the logs account for each candidate: it took the fence on the notice, or says why not.
 */
@Tag("integration")
class SwitchoverOnNoticeIT extends SwitchoverIT {

  @Override
  Map<String, String> settings() {
    return Map.of(); // the defaults
  }

  @Override
  void checkLogs(Path logs) throws Exception {
    List<String> lines = new ArrayList<>();
    try (Stream<Path> files = Files.list(logs)) {
      for (Path f : files.toList()) {
        lines.addAll(Files.readAllLines(f));
      }
    }
    long named = lines.stream().filter(l -> l.contains("LEADER fence released") && l.contains("told it is next")).count();
    long taken = lines.stream().filter(l -> l.contains("LEADER on") && l.contains("after the release's notice")).count();
    long late = lines.stream().filter(l -> l.contains("its singleton started") && l.contains("before the notice was handled"))
        .count();
    long declined = lines.stream().filter(l -> l.contains("does not take the fence on the notice")).count();
    // each release named the candidate (two switchovers), and each candidate took the fence on the notice, or had
    // its singleton there first (a fast move through the cluster), or declined because in its own view a member that
    // stepped back still stood before it (its view a gossip round behind the leader's); never silently nothing
    assertEquals(2, named, "each switchover's release names its candidate");
    assertEquals(named, taken + late + declined, "each named candidate took the fence on the notice, had its "
        + "singleton first, or said why not: " + taken + " taken, " + late + " late, " + declined + " declined");
    // how many candidates won the race against their singleton is timing (0 of 2 seen when the release waited 109 ms
    // for the fence thread); the accounting above fails if notices stop arriving or are dropped without a word
    System.out.printf("SwitchoverOnNoticeIT: %d taken on the notice, %d late, %d declined%n", taken, late, declined);
  }
}
