package dev.pmmha.runtime.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.pmmha.http.api.JobsApi;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** What the job routes learn about a cron schedule from the runtime: the stored form, the gap, or the 400's text. */
class JobsScheduleTest {

  private static long at(String instant) {
    return Instant.parse(instant).toEpochMilli();
  }

  @Test
  void aScheduleComesBackTrimmedInItsZoneWithTheGapBetweenItsNextTwoTicks() {
    JobsApi.Schedule s = Jobs.cronSchedule(" 30 2 * * mon-fri ", "Europe/Berlin", at("2026-11-19T12:00:00Z"));
    assertEquals(new JobsApi.Schedule("30 2 * * mon-fri", "Europe/Berlin", Duration.ofDays(3)), s,
        "on a Thursday the next two ticks are Friday and Monday");
    assertEquals(Duration.ofDays(1),
        Jobs.cronSchedule("30 2 * * mon-fri", "Europe/Berlin", at("2026-11-20T12:00:00Z")).gap(), "Monday, Tuesday");
    assertEquals(new JobsApi.Schedule("*/20 * * * *", "UTC", Duration.ofMinutes(20)),
        Jobs.cronSchedule("*/20 * * * *", "UTC", at("2026-11-19T12:00:00Z")));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "a seconds field|0 */5 * * * *|UTC|cron \"0 */5 * * * *\" has 6 field(s); use five",
      "an hour out of range|0 25 * * *|UTC|hour value 25 is out of range: from 0 to 23",
      "a date that never comes|0 0 30 2 *|UTC|cron \"0 0 30 2 *\" never fires (no such date)",
      "an unknown zone|@daily|Mars/Base|unknown time zone \"Mars/Base\"; use an IANA name"})
  void aBadScheduleIsRefusedWithTheMessageTheClientGets(String name, String cron, String zone, String message) {
    JobsApi.InvalidScheduleException e = assertThrows(JobsApi.InvalidScheduleException.class,
        () -> Jobs.cronSchedule(cron, zone, at("2026-11-19T12:00:00Z")));
    assertEquals(true, e.getMessage().startsWith(message), e.getMessage());
    assertThrows(JobsApi.InvalidScheduleException.class, () -> Jobs.disabled().schedule(cron, zone),
        "checked the same with jobs off");
  }
}
