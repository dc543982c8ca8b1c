package dev.pmmha.runtime;

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
