package dev.pmmha.runtime.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Ticks are {@code phase + k * interval}: the same for every node, spread over the interval across jobs. */
class JobScheduleTest {

  @Test
  void ticksFollowThePhaseAndInterval() {
    long interval = 10_000;
    long phase = 1_234;
    assertEquals(11_234, Job.tickAfter(1_234, interval, phase), "strictly after a tick");
    assertEquals(11_234, Job.tickAfter(1_235, interval, phase));
    assertEquals(1_234, Job.tickAfter(1_233, interval, phase));
    assertEquals(1_234, Job.tickAtOrBefore(1_234, interval, phase));
    assertEquals(1_234, Job.tickAtOrBefore(11_233, interval, phase));
    assertEquals(-8_766, Job.tickAtOrBefore(0, interval, phase));
    long now = 1_795_497_226_112L;
    long t = Job.tickAfter(now, interval, phase);
    assertEquals(phase, Math.floorMod(t, interval));
    assertTrue(t > now && t - now <= interval);
  }

  @Test
  void aCronJobTicksAtItsScheduleTimesInItsZone() {
    Job.Spec spec = new Job.Spec(0, null, "noop", 60_000, true, "0 3 * * *", "Europe/Berlin");
    long nov24 = java.time.Instant.parse("2026-11-24T12:00:00Z").toEpochMilli();
    // 03:00 in Berlin is 02:00 UTC in winter; no per-job phase for cron jobs
    assertEquals(java.time.Instant.parse("2026-11-25T02:00:00Z").toEpochMilli(), spec.tickAfter("a", nov24));
    assertEquals(spec.tickAfter("a", nov24), spec.tickAfter("b", nov24));
    assertEquals(86_400_000, spec.gapAfter("a", spec.tickAfter("a", nov24)));
    long lastRun = java.time.Instant.parse("2026-11-20T02:00:00Z").toEpochMilli();
    assertEquals(java.time.Instant.parse("2026-11-24T02:00:00Z").toEpochMilli(),
        spec.tickAtOrBefore("a", nov24, lastRun), "the newest missed tick, for catch-up");
    Job.Spec interval = new Job.Spec(10_000, null, "noop", 10_000, false, null, null);
    assertEquals(Job.tickAfter(nov24, 10_000, Job.phase("a", 10_000)), interval.tickAfter("a", nov24));
    assertEquals(10_000, interval.gapAfter("a", nov24));
  }

  private static final long NONE = Long.MIN_VALUE;

  @Test
  void aJobThatStartsOnANodeRunsTheTickThatFellAfterTheClusterTookItOverAndSkipsTheMissedOnes() {
    Job.Spec spec = new Job.Spec(10_000, null, "noop", 10_000, false, null, null);
    long p = Job.phase("j", 10_000);
    long t = 1_795_000_000_000L - Math.floorMod(1_795_000_000_000L - p, 10_000); // a tick of j
    java.util.Optional<Long> ranAt = java.util.Optional.of(t);
    // its node died after the run at t; lost at t+3s (unreachable, later downed), the job arrived at t+5s and had started at t+12s: the tick
    // at t+10s fell while the cluster owned it: it runs now, late
    assertEquals(java.util.List.of(NONE, t + 10_000), list(Job.firstTicks(spec, "j", ranAt, NONE, t + 3_000, t + 12_000)));
    // arrived at t+11s without a downing known (a graceful move): t+10s fell before it arrived, missed: skipped
    assertEquals(java.util.List.of(NONE, NONE), list(Job.firstTicks(spec, "j", ranAt, NONE, t + 11_000, t + 11_500)));
    // the same with catch_up: the missed tick runs once
    Job.Spec catchUp = new Job.Spec(10_000, null, "noop", 10_000, true, null, null);
    assertEquals(java.util.List.of(t + 10_000, NONE), list(Job.firstTicks(catchUp, "j", ranAt, NONE, t + 11_000, t + 11_500)));
    // missed ticks (t+10s) and one that fell while starting (t+20s): catch-up first, then the late one
    assertEquals(java.util.List.of(t + 10_000, t + 20_000),
        list(Job.firstTicks(catchUp, "j", ranAt, NONE, t + 15_000, t + 22_000)));
    // without catch_up only the late one, and only the latest of those that fell while starting
    assertEquals(java.util.List.of(NONE, t + 30_000), list(Job.firstTicks(spec, "j", ranAt, NONE, t + 15_000, t + 33_000)));
    // nothing fell since it was owned here: the schedule goes on
    assertEquals(java.util.List.of(NONE, NONE), list(Job.firstTicks(spec, "j", ranAt, NONE, t + 3_000, t + 9_000)));
    // a tick that ran already (this incarnation, or anywhere) is never run again
    assertEquals(java.util.List.of(NONE, NONE), list(Job.firstTicks(spec, "j", java.util.Optional.of(t + 10_000), NONE,
        t + 3_000, t + 12_000)));
    assertEquals(java.util.List.of(NONE, NONE), list(Job.firstTicks(spec, "j", ranAt, t + 10_000, t + 3_000, t + 12_000)));
    // a new job (no run yet): nothing before it was defined
    assertEquals(java.util.List.of(NONE, NONE), list(Job.firstTicks(catchUp, "j", java.util.Optional.empty(), NONE,
        t + 10_001, t + 10_050)));
  }

  @Test
  void aCronJobStartingLateRunsItsLatestTickSinceItWasOwned() {
    Job.Spec spec = new Job.Spec(0, null, "noop", 60_000, false, "*/5 * * * *", null);
    long last = java.time.Instant.parse("2026-11-24T10:00:00Z").toEpochMilli();
    long lost = java.time.Instant.parse("2026-11-24T10:04:30Z").toEpochMilli();
    long now = java.time.Instant.parse("2026-11-24T10:05:20Z").toEpochMilli();
    assertEquals(java.util.List.of(NONE, java.time.Instant.parse("2026-11-24T10:05:00Z").toEpochMilli()),
        list(Job.firstTicks(spec, "j", java.util.Optional.of(last), NONE, lost, now)));
    long arrivedAfterTick = java.time.Instant.parse("2026-11-24T10:05:10Z").toEpochMilli();
    assertEquals(java.util.List.of(NONE, NONE),
        list(Job.firstTicks(spec, "j", java.util.Optional.of(last), NONE, arrivedAfterTick, now)));
  }

  private static java.util.List<Long> list(long[] a) {
    return java.util.List.of(a[0], a[1]);
  }

  @Test
  void theEntityIdCarriesTheShard() {
    assertEquals("17|mysql-1.advisor", Job.entityId(17, "mysql-1.advisor"));
    assertEquals("17", Job.shardOf("17|mysql-1.advisor"));
    assertEquals("mysql-1.advisor", Job.jobIdOf("17|mysql-1.advisor"));
  }

  @Test
  void phasesOfManyJobsSpreadOverTheInterval() {
    long interval = 10_000;
    int[] perSecond = new int[10];
    Set<Long> distinct = new HashSet<>();
    for (int i = 0; i < 10_000; i++) {
      long p = Job.phase("job-" + i, interval);
      assertTrue(p >= 0 && p < interval);
      perSecond[(int) (p / 1000)]++;
      distinct.add(p);
    }
    for (int n : perSecond) {
      assertTrue(n > 850 && n < 1150, "about 1,000 ticks per second of the interval: " + java.util.Arrays.toString(perSecond));
    }
    assertTrue(distinct.size() > 5_000, "phases are not bunched: " + distinct.size());
    assertEquals(Job.phase("a", interval), Job.phase("a", interval), "the same on every node");
  }
}
