package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.pmmha.runtime.LeaderWatch.Answer;
import java.util.List;
import org.junit.jupiter.api.Test;

class LeaderWatchTest {

  static final long MS = 1_000_000;

  @Test
  void aHandOverBetweenTwoProbesOfOneRoundIsNoViolation() {
    // pmm-1 answers 200 (epoch 2) at 10 ms, releases; pmm-3 answers 200 (epoch 3) at 150 ms, in the same round
    List<Answer> round = List.of(new Answer("pmm-1", 0, 10 * MS, 200, 2), new Answer("pmm-2", 0, 12 * MS, 503, 0),
        new Answer("pmm-3", 0, 150 * MS, 200, 3), new Answer("pmm-1", 170 * MS, 171 * MS, 503, 0));
    assertEquals(List.of(), LeaderWatch.violations(round));
  }

  @Test
  void theOlderLeaderAnsweringAfterTheNewerOneIsAViolation() {
    List<Answer> answers = List.of(new Answer("pmm-3", 0, 10 * MS, 200, 3),
        new Answer("pmm-1", 40 * MS, 41 * MS, 200, 2), new Answer("pmm-1", 60 * MS, 61 * MS, 200, 2));
    assertEquals(List.of("pmm-1 answered 200 for epoch 2 50 ms after pmm-3 had answered 200 for epoch 3"),
        LeaderWatch.violations(answers));
  }

  @Test
  void twoNodesWithOneEpochOrA200WithoutItsEpochAreViolations() {
    assertEquals(List.of("pmm-1 and pmm-2 both answered 200 for epoch 4"), LeaderWatch.violations(List.of(
        new Answer("pmm-2", 0, 5 * MS, 200, 4), new Answer("pmm-1", 100 * MS, 105 * MS, 200, 4))));
    assertEquals(List.of("pmm-2 answered 200 without its epoch"),
        LeaderWatch.violations(List.of(new Answer("pmm-2", 0, 5 * MS, 200, 0))));
  }

  @Test
  void answersWhoseIntervalsOverlapProveNothingEitherWay() {
    // both requests in flight at once: the hand-over may have happened between the two decisions
    assertEquals(List.of(), LeaderWatch.violations(List.of(new Answer("pmm-1", 0, 80 * MS, 200, 2),
        new Answer("pmm-2", 0, 30 * MS, 200, 3))));
  }
}
