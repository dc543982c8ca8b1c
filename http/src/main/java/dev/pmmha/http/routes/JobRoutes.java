package dev.pmmha.http.routes;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.http.api.JobsApi;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * {@code /v1/ha/jobs}: create or replace ({@code PUT /v1/ha/jobs/{id}}), list, runs of one job, delete. Writes need
 * the same credentials as settings writes; bodies are validated here, with a 400 that says what is wrong.
 */
public final class JobRoutes extends AllDirectives {

  static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final Pattern DURATION = Pattern.compile("\\s*(\\d{1,9})\\s*(ms|s|m|h|d)\\s*");
  static final Duration MIN_INTERVAL = Duration.ofSeconds(1);
  static final Duration MAX_INTERVAL = Duration.ofDays(7);
  static final Duration MIN_TIMEOUT = Duration.ofMillis(100);
  static final Duration MAX_TIMEOUT = Duration.ofDays(1);
  static final int MAX_ARGS = 256;
  static final long MAX_BODY_BYTES = 64 * 1024;
  private static final Set<String> FIELDS =
      Set.of("interval", "cron", "timezone", "command", "action", "timeout", "catch_up");

  private final JobsApi jobs;
  private final Function<Supplier<Route>, Route> authenticated;

  /** {@code authenticated} wraps a write route in the node's credential check. */
  public JobRoutes(JobsApi jobs, Function<Supplier<Route>, Route> authenticated) {
    this.jobs = jobs;
    this.authenticated = authenticated;
  }

  public Route route() {
    return concat(
        path(segment("v1").slash("ha").slash("jobs"), () -> get(this::list)),
        path(segment("v1").slash("ha").slash("jobs").slash(segment()).slash("runs"), id -> get(() -> runs(id))),
        path(segment("v1").slash("ha").slash("jobs").slash(segment()), id -> concat(
            put(() -> authenticated.apply(() -> putJob(id))),
            delete(() -> authenticated.apply(() -> deleteJob(id))))));
  }

  // --- bodies ---

  record JobBody(String id, String interval, String cron, String timezone, List<String> command, String action,
      String timeout, boolean catchUp, String node, Instant nodeSince, RunBody lastRun) {}

  record RunBody(Instant tick, String node, Instant start, Instant end, Integer exitCode, String status) {}

  record JobsBody(List<JobBody> jobs, Map<String, Integer> perNode) {}

  record RunsBody(String id, List<RunBody> runs) {}

  static RunBody body(JobsApi.Run r) {
    return new RunBody(r.tick(), r.node(), r.start(), r.end(), r.exitCode(), r.status());
  }

  static JobBody body(JobsApi.JobInfo j) {
    JobsApi.Definition d = j.definition();
    return new JobBody(j.id(), d.interval() == null ? null : format(d.interval()), d.cron(), d.timezone(),
        d.command(), d.action(), format(d.timeout()), d.catchUp(), j.node(), j.nodeSince(),
        j.lastRun().map(JobRoutes::body).orElse(null));
  }

  /** {@code 10s}, {@code 1500ms}, {@code 5m}: the largest unit that keeps the value whole. */
  public static String format(Duration d) {
    long ms = d.toMillis();
    if (ms % 86_400_000 == 0 && ms > 0) {
      return ms / 86_400_000 + "d";
    }
    if (ms % 3_600_000 == 0 && ms > 0) {
      return ms / 3_600_000 + "h";
    }
    if (ms % 60_000 == 0 && ms > 0) {
      return ms / 60_000 + "m";
    }
    if (ms % 1000 == 0) {
      return ms / 1000 + "s";
    }
    return ms + "ms";
  }

  /** Parses {@code 500ms}, {@code 10s}, {@code 5m}, {@code 2h}, {@code 1d}. */
  public static Duration parseDuration(String field, String text) {
    Matcher m = DURATION.matcher(text);
    if (!m.matches()) {
      throw ApiError.badRequest(field + " \"" + text + "\" is not a duration: use a whole number with ms, s, m, h or d "
          + "(for example \"10s\")");
    }
    long n = Long.parseLong(m.group(1));
    return switch (m.group(2)) {
      case "ms" -> Duration.ofMillis(n);
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      case "h" -> Duration.ofHours(n);
      default -> Duration.ofDays(n);
    };
  }

  /**
   * Validates a PUT body, its cron schedule through {@code jobs}; throws a 400 {@link ApiError} naming the field
   * and what is expected.
   */
  static JobsApi.Definition parse(String text, JobsApi jobs) {
    String expected = "the body must be a JSON object, for example "
        + "{\"interval\":\"10s\",\"command\":[\"/bin/sh\",\"-c\",\"echo hi\"],\"timeout\":\"30s\"}";
    JsonNode root = Json.parse(text, expected);
    if (!root.isObject()) {
      throw ApiError.badRequest(expected);
    }
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!FIELDS.contains(f)) {
        throw ApiError.badRequest("unknown field \"" + f + "\"; a job has interval or cron (with timezone), command or "
            + "action, timeout and catch_up");
      }
    }
    JsonNode interval = root.get("interval");
    JsonNode cronField = root.get("cron");
    JsonNode zoneField = root.get("timezone");
    Duration every = null;
    JobsApi.Schedule cron = null;
    if ((interval == null) == (cronField == null)) {
      throw ApiError.badRequest("give either interval (a string such as \"10s\") or cron (five fields such as "
          + "\"*/5 * * * *\")");
    }
    if (interval != null) {
      if (!interval.isTextual()) {
        throw ApiError.badRequest("interval must be a string such as \"10s\"");
      }
      if (zoneField != null) {
        throw ApiError.badRequest("timezone goes with cron, not with interval");
      }
      every = parseDuration("interval", interval.asText());
      if (every.compareTo(MIN_INTERVAL) < 0 || every.compareTo(MAX_INTERVAL) > 0) {
        throw ApiError.badRequest("interval " + interval.asText() + " is out of range: from 1s to 7d");
      }
    } else {
      if (!cronField.isTextual()) {
        throw ApiError.badRequest("cron must be a string such as \"*/5 * * * *\"");
      }
      if (zoneField != null && !zoneField.isTextual()) {
        throw ApiError.badRequest("timezone must be a string such as \"UTC\" or \"Europe/Berlin\"");
      }
      try {
        cron = jobs.schedule(cronField.asText(), zoneField == null ? "UTC" : zoneField.asText());
      } catch (JobsApi.InvalidScheduleException e) {
        throw ApiError.badRequest(e.getMessage());
      }
    }
    Set<String> actions = jobs.actions();
    JsonNode command = root.get("command");
    JsonNode action = root.get("action");
    if ((command == null) == (action == null)) {
      throw ApiError.badRequest("give either command (an argv list, for example [\"/bin/sh\",\"-c\",\"...\"]) or action "
          + "(a built-in action" + (actions.isEmpty() ? "" : ": one of " + new java.util.TreeSet<>(actions)) + ")");
    }
    List<String> argv = null;
    String actionName = null;
    if (command != null) {
      if (!command.isArray() || command.isEmpty()) {
        throw ApiError.badRequest("command must be a non-empty array of strings (argv), for example [\"/usr/bin/pmm-job\"]");
      }
      if (command.size() > MAX_ARGS) {
        throw ApiError.badRequest("command has " + command.size() + " arguments; at most " + MAX_ARGS);
      }
      argv = new ArrayList<>();
      for (JsonNode a : command) {
        if (!a.isTextual() || a.asText().indexOf('\0') >= 0) {
          throw ApiError.badRequest("command must be an array of strings without NUL characters; element "
              + argv.size() + " is " + a);
        }
        argv.add(a.asText());
      }
      if (argv.get(0).isBlank()) {
        throw ApiError.badRequest("command[0], the program, must not be empty");
      }
    } else {
      if (!action.isTextual() || !actions.contains(action.asText())) {
        throw ApiError.badRequest("unknown action " + action + "; built-in actions: " + new java.util.TreeSet<>(actions));
      }
      actionName = action.asText();
    }
    Duration timeout = every != null ? every : defaultTimeout(cron);
    JsonNode t = root.get("timeout");
    if (t != null) {
      if (!t.isTextual()) {
        throw ApiError.badRequest("timeout must be a string such as \"30s\"");
      }
      timeout = parseDuration("timeout", t.asText());
      if (timeout.compareTo(MIN_TIMEOUT) < 0 || timeout.compareTo(MAX_TIMEOUT) > 0) {
        throw ApiError.badRequest("timeout " + t.asText() + " is out of range: from 100ms to 1d");
      }
    }
    JsonNode c = root.get("catch_up");
    if (c != null && !c.isBoolean()) {
      throw ApiError.badRequest("catch_up must be true or false");
    }
    return new JobsApi.Definition(every, cron == null ? null : cron.cron(),
        cron == null ? null : cron.timezone(), argv == null ? null : List.copyOf(argv), actionName, timeout,
        c != null && c.asBoolean());
  }

  /** A cron job's run may last until its next tick: the gap after its next one, from 100 ms up to 1 d. */
  static Duration defaultTimeout(JobsApi.Schedule cron) {
    Duration gap = cron.gap();
    return gap.compareTo(MAX_TIMEOUT) > 0 ? MAX_TIMEOUT : gap.compareTo(MIN_TIMEOUT) < 0 ? MIN_TIMEOUT : gap;
  }

  // --- routes ---

  private static String validId(String id) {
    if (!ID.matcher(id).matches()) {
      throw ApiError.badRequest("invalid job id \"" + id
          + "\": use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }
    return id;
  }

  private static ApiError noJob(String id) {
    return ApiError.notFound("no job named " + id);
  }

  private Route list() {
    return onSuccess(jobs.list(), all -> {
      Map<String, Integer> perNode = new java.util.TreeMap<>();
      List<JobBody> out = new ArrayList<>();
      for (JobsApi.JobInfo j : all) {
        out.add(body(j));
        if (j.node() != null) {
          perNode.merge(j.node(), 1, Integer::sum);
        }
      }
      return complete(StatusCodes.OK, new JobsBody(out, perNode), Json.MARSHALLER);
    });
  }

  private Route runs(String id) {
    validId(id);
    return parameterOptional("limit", limitText -> {
      int limit = 20;
      if (limitText.isPresent()) {
        try {
          limit = Integer.parseInt(limitText.get());
        } catch (NumberFormatException e) {
          limit = -1;
        }
        if (limit < 1 || limit > 1000) {
          return failWith(ApiError.badRequest("limit must be a number from 1 to 1000 (got " + limitText.get() + ")"));
        }
      }
      return onSuccess(jobs.runs(id, limit), r -> r
          .<Route>map(l -> complete(StatusCodes.OK, new RunsBody(id, l.stream().map(JobRoutes::body).toList()), Json.MARSHALLER))
          .orElseGet(() -> failWith(noJob(id))));
    });
  }

  private Route putJob(String id) {
    validId(id);
    return withSizeLimit(MAX_BODY_BYTES, () -> entity(Unmarshaller.entityToString(), text ->
        onSuccess(jobs.put(id, parse(text, jobs)), j -> complete(StatusCodes.OK, body(j), Json.MARSHALLER))));
  }

  private Route deleteJob(String id) {
    return onSuccess(jobs.delete(validId(id)), existed -> existed
        ? complete(StatusCodes.OK, Map.of("id", id, "status", "deleted"), Json.MARSHALLER)
        : failWith(noJob(id)));
  }
}
