package dev.pmmha.runtime.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CronTest {

  private static long ms(String instant) {
    return Instant.parse(instant).toEpochMilli();
  }

  private static List<String> fires(Cron cron, String after, int n) {
    List<String> out = new ArrayList<>();
    long t = ms(after);
    for (int i = 0; i < n; i++) {
      t = cron.next(t);
      out.add(Instant.ofEpochMilli(t).toString());
    }
    return out;
  }

  @Test
  void stepsListsRangesAndNamesFireAtTheirMinutes() {
    assertEquals(List.of("2026-11-24T10:05:00Z", "2026-11-24T10:10:00Z", "2026-11-24T10:15:00Z"),
        fires(Cron.parse("*/5 * * * *", null), "2026-11-24T10:04:59.999Z", 3));
    // strictly after: a tick exactly at a fire time moves to the next one
    assertEquals(List.of("2026-11-24T10:10:00Z"), fires(Cron.parse("*/5 * * * *", "UTC"), "2026-11-24T10:05:00Z", 1));
    // 09:30 and 17:30 on weekdays; 2026-11-27 is a Friday
    assertEquals(List.of("2026-11-27T17:30:00Z", "2026-11-30T09:30:00Z", "2026-11-30T17:30:00Z"),
        fires(Cron.parse("30 9,17 * * MON-FRI", null), "2026-11-27T10:00:00Z", 3));
    // "5/20": from minute 5, every 20; months by name
    assertEquals(List.of("2027-01-01T00:05:00Z", "2027-01-01T00:25:00Z", "2027-01-01T00:45:00Z",
        "2027-01-01T01:05:00Z"), fires(Cron.parse("5/20 * * jan *", null), "2026-11-24T00:00:00Z", 4));
    assertEquals(List.of("2026-11-24T10:00:00Z", "2026-11-24T10:10:00Z", "2026-11-24T10:20:00Z",
        "2026-11-24T10:30:00Z", "2026-11-24T11:00:00Z"),
        fires(Cron.parse("0-30/10 10-11 * * *", null), "2026-11-24T09:59:00Z", 5));
  }

  @Test
  void macrosAndSundayAsSeven() {
    assertEquals(List.of("2026-11-24T11:00:00Z"), fires(Cron.parse("@hourly", null), "2026-11-24T10:00:00Z", 1));
    assertEquals(List.of("2026-11-25T00:00:00Z"), fires(Cron.parse("@daily", null), "2026-11-24T10:00:00Z", 1));
    assertEquals(List.of("2026-11-25T00:00:00Z"), fires(Cron.parse("@midnight", null), "2026-11-24T10:00:00Z", 1));
    assertEquals(List.of("2026-11-29T00:00:00Z"), fires(Cron.parse("@weekly", null), "2026-11-24T10:00:00Z", 1));
    assertEquals(List.of("2026-12-01T00:00:00Z"), fires(Cron.parse("@monthly", null), "2026-11-24T10:00:00Z", 1));
    assertEquals(List.of("2027-01-01T00:00:00Z"), fires(Cron.parse("@yearly", null), "2026-11-24T10:00:00Z", 1));
    assertEquals(fires(Cron.parse("0 6 * * 0", null), "2026-11-24T10:00:00Z", 3),
        fires(Cron.parse("0 6 * * 7", null), "2026-11-24T10:00:00Z", 3));
    assertEquals(List.of("2026-11-29T06:00:00Z"), fires(Cron.parse("0 6 * * sun", null), "2026-11-24T10:00:00Z", 1));
  }

  @Test
  void whenBothDayFieldsAreRestrictedEitherDayFires() {
    // the 1st of the month or a Monday (crontab(5)); 2026-11-30 is a Monday, 2026-12-01 a Tuesday
    assertEquals(List.of("2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-07T00:00:00Z"),
        fires(Cron.parse("0 0 1 * mon", null), "2026-11-24T10:00:00Z", 3));
    // a day-of-week with '*' in day-of-month: Mondays only
    assertEquals(List.of("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"),
        fires(Cron.parse("0 0 * * mon", null), "2026-11-24T10:00:00Z", 2));
    // February 29 fires in leap years only
    assertEquals(List.of("2028-02-29T12:00:00Z"), fires(Cron.parse("0 12 29 2 *", null), "2026-11-24T10:00:00Z", 1));
  }

  @Test
  void wallClockTimesOfTheZoneAcrossDaylightSavingChanges() {
    Cron cron = Cron.parse("30 2 * * *", "Europe/Berlin");
    // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST, 02:30 does not exist and fires at 03:30 CEST
    assertEquals(List.of("2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"),
        fires(cron, "2026-03-27T12:00:00Z", 3));
    // 2026-10-25: 02:00-03:00 happens twice; 02:30 fires once, at its first occurrence (CEST, 00:30 UTC)
    assertEquals(List.of("2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"),
        fires(cron, "2026-10-23T12:00:00Z", 3));
    // asked from within the repeated hour's second pass, the next is the following day
    assertEquals(List.of("2026-10-26T01:30:00Z"), fires(cron, "2026-10-25T01:10:00Z", 1));
  }

  @Test
  void latestAtOrBeforeIsTheLastFireTimeNotAfterTheGivenTime() {
    Cron cron = Cron.parse("*/10 * * * *", null);
    assertEquals(ms("2026-11-24T10:50:00Z"), cron.latestAtOrBefore(ms("2026-11-24T10:59:59Z"), ms("2026-11-24T10:00:00Z")));
    assertEquals(ms("2026-11-24T10:50:00Z"), cron.latestAtOrBefore(ms("2026-11-24T10:50:00Z"), ms("2026-11-24T10:00:00Z")));
    // nothing after the start: the start itself
    assertEquals(ms("2026-11-24T10:00:00Z"), cron.latestAtOrBefore(ms("2026-11-24T10:05:00Z"), ms("2026-11-24T10:00:00Z")));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "''                | cron is empty",
      "* * * *           | has 4 field(s); use five",
      "0 * * * * *       | has 6 field(s); use five",
      "60 * * * *        | minute value 60 is out of range: from 0 to 59",
      "* 24 * * *        | hour value 24 is out of range: from 0 to 23",
      "* * 0 * *         | day-of-month value 0 is out of range: from 1 to 31",
      "* * * 13 *        | month value 13 is out of range: from 1 to 12",
      "* * * * 8         | day-of-week value 8 is out of range: from 0 to 7",
      "* * * foo *       | month field: \"foo\" is not a number or a name",
      "*/0 * * * *       | minute step value 0 is out of range: from 1 to 60",
      "30-10 * * * *     | minute range \"30-10\" goes backwards",
      "1,,2 * * * *      | minute field \"1,,2\" has an empty list element",
      "0 0 30 2 *        | never fires",
      "0 0 31 4,6,9,11 * | never fires",
      "@often            | unknown cron macro \"@often\""})
  void invalidSchedulesAreRejectedWithTheFieldAndWhatItAccepts(String expression, String message) {
    Cron.InvalidCron e = assertThrows(Cron.InvalidCron.class, () -> Cron.parse(expression, null));
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void anUnknownZoneIsRejected() {
    Cron.InvalidCron e = assertThrows(Cron.InvalidCron.class, () -> Cron.parse("* * * * *", "Mars/Olympus"));
    assertTrue(e.getMessage().contains("unknown time zone \"Mars/Olympus\""), e.getMessage());
  }
}
