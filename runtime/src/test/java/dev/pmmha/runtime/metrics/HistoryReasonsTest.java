package dev.pmmha.runtime.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.pmmha.http.api.Observability.HistoryEntry;
import dev.pmmha.runtime.leader.LeaderEvent;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class HistoryReasonsTest {

  @Test
  void eachChangeSaysWhyAnElectionByWhatCameBeforeIt() {
    Instant t = Instant.parse("2026-12-02T09:00:00Z");
    List<HistoryEntry> h = PmmHaMetrics.withReasons(List.of(
        new LeaderEvent.LeaderElected(1, "n1", t),
        new LeaderEvent.LeaderReleased(1, "n1", t, "switchover to n3, asked on n1"),
        new LeaderEvent.LeaderElected(2, "n3", t),
        new LeaderEvent.LeaderElected(3, "n2", t),
        new LeaderEvent.LeaderReleased(3, "n2", t), // a row from before reasons were recorded
        new LeaderEvent.LeaderElected(4, "n1", t)));
    assertEquals(List.of(
        "elected 1 n1: first leader",
        "released 1 n1: switchover to n3, asked on n1",
        "elected 2 n3: after n1 handed over epoch 1",
        "elected 3 n2: after n3 (epoch 2) was lost without a hand-over: a crash, a cut-off, a step-aside or a lease "
            + "that ran out",
        "released 3 n2: hand-over",
        "elected 4 n1: after n2 handed over epoch 3"),
        h.stream().map(e -> e.event() + " " + e.epoch() + " " + e.nodeId() + ": " + e.reason()).toList());
  }
}
