package dev.pmmha.runtime.jobs;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.util.BitSet;
import java.util.Locale;
import java.util.Map;

/**
 * A five-field cron schedule (minute, hour, day of month, month, day of week) in a time zone, as crontab(5) reads
 * it: {@code *}, lists ({@code 1,15}), ranges ({@code 1-5}), steps ({@code *}{@code /15}, {@code 0-30/10},
 * {@code 5/20}), month and day names ({@code jan}, {@code mon-fri}), Sunday as 0 or 7, and the macros
 * {@code @hourly}, {@code @daily} ({@code @midnight}), {@code @weekly}, {@code @monthly}, {@code @yearly}
 * ({@code @annually}). When both day fields are restricted a day matching either one fires (Vixie cron).
 *
 * <p>Times are wall-clock times of the zone. A time that a daylight-saving change skips fires later by the length of
 * the gap (02:30 on the night clocks go from 02:00 to 03:00 fires at 03:30); a time that the change repeats fires
 * once, at its first occurrence.
 */
public final class Cron {

  /** Nothing fires within this many years of a time: the schedule is rejected (for example February 30). */
  private static final int HORIZON_YEARS = 5;

  private static final Map<String, String> MACROS = Map.of("@hourly", "0 * * * *", "@daily", "0 0 * * *",
      "@midnight", "0 0 * * *", "@weekly", "0 0 * * 0", "@monthly", "0 0 1 * *", "@yearly", "0 0 1 1 *",
      "@annually", "0 0 1 1 *");
  private static final String[] MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
      "nov", "dec"};
  private static final String[] DAYS = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

  private final String expression;
  private final ZoneId zone;
  private final BitSet minutes;
  private final BitSet hours;
  private final BitSet daysOfMonth;
  private final BitSet months;
  private final BitSet daysOfWeek; // 0 = Sunday
  private final boolean domRestricted;
  private final boolean dowRestricted;

  private Cron(String expression, ZoneId zone, BitSet minutes, BitSet hours, BitSet daysOfMonth, BitSet months,
      BitSet daysOfWeek, boolean domRestricted, boolean dowRestricted) {
    this.expression = expression;
    this.zone = zone;
    this.minutes = minutes;
    this.hours = hours;
    this.daysOfMonth = daysOfMonth;
    this.months = months;
    this.daysOfWeek = daysOfWeek;
    this.domRestricted = domRestricted;
    this.dowRestricted = dowRestricted;
  }

  /** Thrown with a message that names the field and what it accepts. */
  public static final class InvalidCron extends IllegalArgumentException {
    InvalidCron(String message) {
      super(message);
    }
  }

  /**
   * Parses {@code expression} in {@code zone} (an IANA name such as {@code Europe/Berlin}, or {@code UTC}).
   *
   * @throws InvalidCron when the expression or the zone is not valid, or the schedule never fires
   */
  public static Cron parse(String expression, String zone) {
    if (expression == null || expression.isBlank()) {
      throw new InvalidCron("cron is empty; use five fields (minute hour day-of-month month day-of-week), "
          + "for example \"*/5 * * * *\"");
    }
    ZoneId z;
    try {
      z = ZoneId.of(zone == null ? "UTC" : zone);
    } catch (DateTimeException e) {
      throw new InvalidCron("unknown time zone \"" + zone + "\"; use an IANA name such as \"UTC\" or "
          + "\"Europe/Berlin\"");
    }
    String text = expression.trim().toLowerCase(Locale.ROOT);
    if (text.startsWith("@")) {
      String expanded = MACROS.get(text);
      if (expanded == null) {
        throw new InvalidCron("unknown cron macro \"" + expression.trim() + "\"; known: @hourly, @daily, @midnight, "
            + "@weekly, @monthly, @yearly, @annually");
      }
      text = expanded;
    }
    String[] f = text.split("\\s+");
    if (f.length != 5) {
      throw new InvalidCron("cron \"" + expression.trim() + "\" has " + f.length + " field(s); use five: minute hour "
          + "day-of-month month day-of-week, for example \"*/5 * * * *\" (no seconds field)");
    }
    BitSet dow = field("day-of-week", f[4], 0, 7, DAYS);
    if (dow.get(7)) { // 7 is Sunday too
      dow.set(0);
      dow.clear(7);
    }
    Cron cron = new Cron(expression.trim(), z, field("minute", f[0], 0, 59, null), field("hour", f[1], 0, 23, null),
        field("day-of-month", f[2], 1, 31, null), field("month", f[3], 1, 12, MONTHS), dow,
        !f[2].startsWith("*"), !f[4].startsWith("*"));
    Instant probe = Instant.parse("2000-01-01T00:00:00Z");
    for (int year = 0; year < 30; year += HORIZON_YEARS) { // also leap years: February 29 fires
      if (cron.nextOrNull(probe.plus(year * 365L, ChronoUnit.DAYS)) == null) {
        throw new InvalidCron("cron \"" + expression.trim() + "\" never fires (no such date)");
      }
    }
    return cron;
  }

  private static BitSet field(String name, String text, int min, int max, String[] names) {
    BitSet bits = new BitSet(max + 1);
    for (String part : text.split(",", -1)) {
      if (part.isEmpty()) {
        throw new InvalidCron(name + " field \"" + text + "\" has an empty list element");
      }
      int step = 1;
      String range = part;
      int slash = part.indexOf('/');
      if (slash >= 0) {
        range = part.substring(0, slash);
        step = number(name + " step", part.substring(slash + 1), 1, max - min + 1, null);
      }
      int from;
      int to;
      if (range.equals("*")) {
        from = min;
        to = max;
      } else {
        int dash = range.indexOf('-');
        if (dash >= 0) {
          from = number(name, range.substring(0, dash), min, max, names);
          to = number(name, range.substring(dash + 1), min, max, names);
          if (to < from) {
            throw new InvalidCron(name + " range \"" + range + "\" goes backwards");
          }
        } else {
          from = number(name, range, min, max, names);
          to = slash >= 0 ? max : from; // "5/20": from 5 to the end, every 20
        }
      }
      for (int v = from; v <= to; v += step) {
        bits.set(v);
      }
    }
    return bits;
  }

  private static int number(String name, String text, int min, int max, String[] names) {
    if (names != null) {
      for (int i = 0; i < names.length; i++) {
        if (names[i].equals(text)) {
          return names == MONTHS ? i + 1 : i;
        }
      }
    }
    int v;
    try {
      v = Integer.parseInt(text);
    } catch (NumberFormatException e) {
      throw new InvalidCron(name + " field: \"" + text + "\" is not a number" + (names == null ? ""
          : " or a name (" + String.join(", ", names) + ")"));
    }
    if (v < min || v > max) {
      throw new InvalidCron(name + " value " + v + " is out of range: from " + min + " to " + max);
    }
    return v;
  }

  /** The expression as given. */
  public String expression() {
    return expression;
  }

  public ZoneId zone() {
    return zone;
  }

  /** The first time this schedule fires strictly after {@code afterMs} (epoch milliseconds). */
  public long next(long afterMs) {
    Instant next = nextOrNull(Instant.ofEpochMilli(afterMs));
    if (next == null) { // parse() rejects schedules that do not fire within the horizon from any year
      throw new IllegalStateException("cron " + expression + " does not fire after " + Instant.ofEpochMilli(afterMs));
    }
    return next.toEpochMilli();
  }

  /** The latest time this schedule fired at or before {@code atMs}, searching forward from {@code fromMs}. */
  public long latestAtOrBefore(long atMs, long fromMs) {
    long latest = fromMs;
    for (long t = next(fromMs); t <= atMs; t = next(t)) {
      latest = t;
    }
    return latest;
  }

  private Instant nextOrNull(Instant after) {
    LocalDateTime t = LocalDateTime.ofInstant(after, zone).truncatedTo(ChronoUnit.MINUTES).plusMinutes(1);
    LocalDateTime end = t.plusYears(HORIZON_YEARS);
    while (t.isBefore(end)) {
      if (!months.get(t.getMonthValue())) {
        t = t.withDayOfMonth(1).truncatedTo(ChronoUnit.DAYS).plusMonths(1);
        continue;
      }
      if (!dayMatches(t)) {
        t = t.truncatedTo(ChronoUnit.DAYS).plusDays(1);
        continue;
      }
      if (!hours.get(t.getHour())) {
        t = t.truncatedTo(ChronoUnit.HOURS).plusHours(1);
        continue;
      }
      if (!minutes.get(t.getMinute())) {
        t = t.plusMinutes(1);
        continue;
      }
      Instant at = ZonedDateTime.ofLocal(t, zone, null).toInstant();
      if (at.isAfter(after)) {
        return at;
      }
      t = t.plusMinutes(1); // a wall-clock time repeated by a daylight-saving change: fired already
    }
    return null;
  }

  private boolean dayMatches(LocalDateTime t) {
    boolean dom = daysOfMonth.get(t.getDayOfMonth());
    boolean dow = daysOfWeek.get(t.getDayOfWeek().getValue() % 7);
    if (domRestricted && dowRestricted) {
      return dom || dow;
    }
    return dom && dow;
  }

  @Override
  public String toString() {
    return expression + (zone.getId().equals("UTC") ? "" : " (" + zone.getId() + ")");
  }
}
