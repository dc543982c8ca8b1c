package dev.pmmha.http.routes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.http.HttpServer;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.http.api.JobsApi;
import dev.pmmha.http.api.NodeControl;
import dev.pmmha.http.api.Observability;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The job routes' validation, authentication and error mapping, against a fake {@link JobsApi}. */
class JobRoutesTest {

  /** Keeps what was written; {@code unavailable} makes every write time out the way the runtime reports it. */
  static final class FakeJobs implements JobsApi {
    final Map<String, Definition> jobs = new ConcurrentHashMap<>();
    volatile boolean unavailable;

    @Override
    public Set<String> actions() {
      return Set.of("noop", "backup");
    }

    /**
     * The runtime's answers for the schedules these tests use (its cron is checked in the runtime's CronTest and
     * JobsScheduleTest); the routes pass the cron and zone and map the answer.
     */
    @Override
    public Schedule schedule(String cron, String timezone) {
      String error = switch (cron) {
        case "0 */5 * * * *" -> "cron \"0 */5 * * * *\" has 6 field(s); use five: minute hour day-of-month month "
            + "day-of-week, for example \"*/5 * * * *\" (no seconds field)";
        case "0 25 * * *" -> "hour value 25 is out of range: from 0 to 23";
        case "0 0 30 2 *" -> "cron \"0 0 30 2 *\" never fires (no such date)";
        default -> timezone.equals("Mars/Base")
            ? "unknown time zone \"Mars/Base\"; use an IANA name such as \"UTC\" or \"Europe/Berlin\"" : null;
      };
      if (error != null) {
        throw new InvalidScheduleException(error);
      }
      return switch (cron) {
        case "30 2 * * mon-fri" -> new Schedule(cron, timezone, Duration.ofDays(3)); // Friday to Monday
        case "*/20 * * * *" -> new Schedule(cron, timezone, Duration.ofMinutes(20));
        case "* * * * *" -> new Schedule(cron, timezone, Duration.ofMinutes(1));
        default -> new Schedule(cron, timezone, Duration.ofDays(1)); // @daily
      };
    }

    @Override
    public CompletionStage<JobInfo> put(String id, Definition d) {
      if (unavailable) {
        return CompletableFuture.failedFuture(new UnavailableException("job " + id + " did not answer within 5000 ms"));
      }
      jobs.put(id, d);
      return CompletableFuture.completedFuture(new JobInfo(id, d, "n1", null, Optional.empty()));
    }

    @Override
    public CompletionStage<Boolean> delete(String id) {
      return CompletableFuture.completedFuture(jobs.remove(id) != null);
    }

    @Override
    public CompletionStage<List<JobInfo>> list() {
      return CompletableFuture.completedFuture(jobs.entrySet().stream()
          .map(e -> new JobInfo(e.getKey(), e.getValue(), "n1", Instant.parse("2026-11-24T00:00:00Z"), Optional.of(
              new Run(Instant.parse("2026-11-24T00:00:10Z"), "n1", Instant.parse("2026-11-24T00:00:10.005Z"),
                  Instant.parse("2026-11-24T00:00:11Z"), 0, "ok"))))
          .toList());
    }

    @Override
    public CompletionStage<Optional<List<Run>>> runs(String id, int limit) {
      return CompletableFuture.completedFuture(jobs.containsKey(id)
          ? Optional.of(List.of(new Run(Instant.parse("2026-11-24T00:00:10Z"), "n2",
              Instant.parse("2026-11-24T00:00:10.005Z"), null, null, "running")))
          : Optional.empty());
    }
  }

  static ActorTestKit kit;
  static final FakeJobs jobs = new FakeJobs();
  static final HaRoutesTest.FakeViews views = new HaRoutesTest.FakeViews();
  static String open;
  static String secured;
  static String off;
  static final HttpClient client = HttpClient.newHttpClient();

  @BeforeAll
  static void bind() throws Exception {
    kit = ActorTestKit.create();
    ServerBinding a = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(views, views, views).withJobs(jobs).route()).toCompletableFuture().get();
    open = "http://127.0.0.1:" + a.localAddress().getPort();
    ServerBinding b = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(views, views, views, Observability.NONE, new Auth("admin", "secret", "", false),
            NodeControl.NONE).withJobs(jobs).route()).toCompletableFuture().get();
    secured = "http://127.0.0.1:" + b.localAddress().getPort();
    ServerBinding c = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(views, views, views).withJobs(JobsApi.NONE).route()).toCompletableFuture().get();
    off = "http://127.0.0.1:" + c.localAddress().getPort();
  }

  @AfterAll
  static void unbind() {
    kit.shutdownTestKit();
  }

  static HttpResponse<String> send(String base, String method, String path, String body, String auth) throws Exception {
    HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (auth != null) {
      r.header("Authorization", auth);
    }
    return client.send(r.build(), HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode json(HttpResponse<String> r) throws Exception {
    return Json.MAPPER.readTree(r.body());
  }

  @Test
  void aValidJobIsStoredWithItsDurationsAndListedWithItsNodeAndLastRun() throws Exception {
    HttpResponse<String> r = send(open, "PUT", "/v1/ha/jobs/mysql-1.advisor",
        "{\"interval\":\"10s\",\"command\":[\"/bin/sh\",\"-c\",\"echo hi\"],\"timeout\":\"30s\"}", null);
    assertEquals(200, r.statusCode(), r.body());
    JobsApi.Definition d = jobs.jobs.get("mysql-1.advisor");
    assertEquals(Duration.ofSeconds(10), d.interval());
    assertEquals(Duration.ofSeconds(30), d.timeout());
    assertEquals(List.of("/bin/sh", "-c", "echo hi"), d.command());
    assertEquals(false, d.catchUp());
    assertEquals("10s", json(r).get("interval").asText());

    send(open, "PUT", "/v1/ha/jobs/b2", "{\"interval\":\"1500ms\",\"action\":\"noop\",\"catch_up\":true}", null);
    assertEquals(Duration.ofMillis(1500), jobs.jobs.get("b2").timeout(), "the timeout defaults to the interval");
    assertTrue(jobs.jobs.get("b2").catchUp());

    r = send(open, "PUT", "/v1/ha/jobs/nightly", "{\"cron\":\"30 2 * * mon-fri\",\"timezone\":\"Europe/Berlin\","
        + "\"command\":[\"/usr/local/bin/backup\"]}", null);
    assertEquals(200, r.statusCode(), r.body());
    JobsApi.Definition cron = jobs.jobs.get("nightly");
    assertEquals(null, cron.interval());
    assertEquals("30 2 * * mon-fri", cron.cron());
    assertEquals("Europe/Berlin", cron.timezone());
    assertEquals(Duration.ofDays(1), cron.timeout(), "a cron job's timeout defaults to the gap between its ticks, at "
        + "most 1d (here 1d or, Friday to Monday, 3d)");
    assertTrue(json(r).get("interval").isNull());
    assertEquals("30 2 * * mon-fri", json(r).get("cron").asText());
    assertEquals("Europe/Berlin", json(r).get("timezone").asText());
    send(open, "PUT", "/v1/ha/jobs/hourly", "{\"cron\":\"*/20 * * * *\",\"action\":\"noop\"}", null);
    assertEquals(Duration.ofMinutes(20), jobs.jobs.get("hourly").timeout(), "the gap between two ticks");
    assertEquals("UTC", jobs.jobs.get("hourly").timezone(), "cron times are UTC unless a timezone is given");

    JsonNode list = json(send(open, "GET", "/v1/ha/jobs", null, null));
    JsonNode first = list.get("jobs").get(0);
    assertEquals("b2", first.get("id").asText());
    assertEquals("n1", first.get("node").asText());
    assertEquals("ok", first.get("last_run").get("status").asText());
    assertEquals("2026-11-24T00:00:10Z", first.get("last_run").get("tick").asText());
    assertEquals(list.get("jobs").size(), list.get("per_node").get("n1").asInt());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "not JSON|{interval|the body must be a JSON object",
      "an array|[1,2]|the body must be a JSON object",
      "empty body||the body must be a JSON object",
      "no interval nor cron|{\"command\":[\"/bin/true\"]}|give either interval (a string such as \"10s\") or cron",
      "both interval and cron|{\"interval\":\"10s\",\"cron\":\"* * * * *\",\"action\":\"noop\"}|give either interval",
      "interval as number|{\"interval\":10,\"command\":[\"/bin/true\"]}|interval must be a string",
      "timezone with interval|{\"interval\":\"10s\",\"timezone\":\"UTC\",\"action\":\"noop\"}|timezone goes with cron",
      "cron as number|{\"cron\":5,\"action\":\"noop\"}|cron must be a string",
      "cron with seconds|{\"cron\":\"0 */5 * * * *\",\"action\":\"noop\"}|has 6 field(s); use five",
      "cron out of range|{\"cron\":\"0 25 * * *\",\"action\":\"noop\"}|hour value 25 is out of range: from 0 to 23",
      "cron that never fires|{\"cron\":\"0 0 30 2 *\",\"action\":\"noop\"}|never fires",
      "unknown timezone|{\"cron\":\"@daily\",\"timezone\":\"Mars/Base\",\"action\":\"noop\"}|unknown time zone \"Mars/Base\"",
      "timezone as number|{\"cron\":\"@daily\",\"timezone\":1,\"action\":\"noop\"}|timezone must be a string",
      "bad unit|{\"interval\":\"10x\",\"command\":[\"/bin/true\"]}|interval \"10x\" is not a duration",
      "interval too short|{\"interval\":\"500ms\",\"command\":[\"/bin/true\"]}|interval 500ms is out of range",
      "interval too long|{\"interval\":\"8d\",\"command\":[\"/bin/true\"]}|interval 8d is out of range",
      "neither command nor action|{\"interval\":\"10s\"}|give either command",
      "both command and action|{\"interval\":\"10s\",\"command\":[\"/bin/true\"],\"action\":\"noop\"}|give either command",
      "command as string|{\"interval\":\"10s\",\"command\":\"/bin/true\"}|command must be a non-empty array",
      "empty command|{\"interval\":\"10s\",\"command\":[]}|command must be a non-empty array",
      "command with a number|{\"interval\":\"10s\",\"command\":[\"/bin/echo\",3]}|element 1 is 3",
      "empty program|{\"interval\":\"10s\",\"command\":[\" \"]}|command[0], the program, must not be empty",
      "unknown action|{\"interval\":\"10s\",\"action\":\"rm-rf\"}|unknown action \"rm-rf\"; built-in actions: [backup, noop]",
      "bad timeout|{\"interval\":\"10s\",\"action\":\"noop\",\"timeout\":\"soon\"}|timeout \"soon\" is not a duration",
      "timeout too short|{\"interval\":\"10s\",\"action\":\"noop\",\"timeout\":\"10ms\"}|timeout 10ms is out of range",
      "catch_up as string|{\"interval\":\"10s\",\"action\":\"noop\",\"catch_up\":\"yes\"}|catch_up must be true or false",
      "unknown field|{\"interval\":\"10s\",\"action\":\"noop\",\"schedule\":\"* * * * *\"}|unknown field \"schedule\""})
  void invalidDefinitionsAre400WithAMessageThatSaysWhatIsWrong(String name, String body, String message)
      throws Exception {
    HttpResponse<String> r = send(open, "PUT", "/v1/ha/jobs/x", body == null ? "" : body, null);
    assertEquals(400, r.statusCode(), r.body());
    JsonNode e = json(r);
    assertEquals(3, e.get("code").asInt());
    assertTrue(e.get("message").asText().contains(message), e.get("message").asText() + " should contain " + message);
    assertTrue(!jobs.jobs.containsKey("x"), "nothing is stored");
  }

  @Test
  void withoutJobsAWriteIs503WhetherItsScheduleIsAnIntervalOrACron() throws Exception {
    for (String body : List.of("{\"interval\":\"10s\",\"command\":[\"/bin/true\"]}",
        "{\"cron\":\"@daily\",\"command\":[\"/bin/true\"]}")) {
      HttpResponse<String> r = send(off, "PUT", "/v1/ha/jobs/x", body, null);
      assertEquals(503, r.statusCode(), r.body());
      assertEquals(14, json(r).get("code").asInt());
      assertEquals("jobs are not enabled", json(r).get("message").asText());
    }
  }

  @Test
  void invalidIdsAre400OnEveryRoute() throws Exception {
    for (String method : List.of("PUT", "DELETE")) {
      HttpResponse<String> r = send(open, method, "/v1/ha/jobs/-bad", "{\"interval\":\"10s\",\"action\":\"noop\"}", null);
      assertEquals(400, r.statusCode(), method);
      assertTrue(json(r).get("message").asText().startsWith("invalid job id \"-bad\""), r.body());
    }
    assertEquals(400, send(open, "GET", "/v1/ha/jobs/a%20b/runs", null, null).statusCode());
    assertEquals(400, send(open, "GET", "/v1/ha/jobs/" + "a".repeat(129) + "/runs", null, null).statusCode());
  }

  @Test
  void unknownJobsAre404AndRunsOfAKnownJobAreListed() throws Exception {
    assertEquals(404, send(open, "GET", "/v1/ha/jobs/nope/runs", null, null).statusCode());
    assertEquals("no job named nope", json(send(open, "DELETE", "/v1/ha/jobs/nope", null, null)).get("message").asText());
    send(open, "PUT", "/v1/ha/jobs/r1", "{\"interval\":\"10s\",\"action\":\"noop\"}", null);
    JsonNode runs = json(send(open, "GET", "/v1/ha/jobs/r1/runs", null, null));
    assertEquals("running", runs.get("runs").get(0).get("status").asText());
    assertEquals("n2", runs.get("runs").get(0).get("node").asText());
    assertEquals(400, send(open, "GET", "/v1/ha/jobs/r1/runs?limit=0", null, null).statusCode());
    assertEquals(400, send(open, "GET", "/v1/ha/jobs/r1/runs?limit=x", null, null).statusCode());
    assertEquals(200, send(open, "DELETE", "/v1/ha/jobs/r1", null, null).statusCode());
    assertEquals(404, send(open, "GET", "/v1/ha/jobs/r1/runs", null, null).statusCode());
  }

  @Test
  void aJobNodeThatDoesNotAnswerIs503() throws Exception {
    jobs.unavailable = true;
    try {
      HttpResponse<String> r = send(open, "PUT", "/v1/ha/jobs/slow", "{\"interval\":\"10s\",\"action\":\"noop\"}", null);
      assertEquals(503, r.statusCode());
      assertEquals(14, json(r).get("code").asInt());
      assertTrue(json(r).get("message").asText().contains("did not answer"), r.body());
    } finally {
      jobs.unavailable = false;
    }
  }

  @Test
  void writesNeedTheSameCredentialsAsSettingsWritesAndReadsDoNot() throws Exception {
    String body = "{\"interval\":\"10s\",\"action\":\"noop\"}";
    assertEquals(401, send(secured, "PUT", "/v1/ha/jobs/auth1", body, null).statusCode());
    assertEquals(401, send(secured, "PUT", "/v1/ha/jobs/auth1", body, "Basic YWRtaW46d3Jvbmc=").statusCode());
    assertTrue(!jobs.jobs.containsKey("auth1"));
    assertEquals(200, send(secured, "PUT", "/v1/ha/jobs/auth1", body, "Basic YWRtaW46c2VjcmV0").statusCode());
    assertEquals(401, send(secured, "DELETE", "/v1/ha/jobs/auth1", null, null).statusCode());
    assertEquals(200, send(secured, "GET", "/v1/ha/jobs", null, null).statusCode());
    assertEquals(200, send(secured, "DELETE", "/v1/ha/jobs/auth1", null, "Basic YWRtaW46c2VjcmV0").statusCode());
  }

  @Test
  void wrongMethodsAre405() throws Exception {
    assertEquals(405, send(open, "POST", "/v1/ha/jobs/x", "{}", null).statusCode());
    assertEquals(405, send(open, "DELETE", "/v1/ha/jobs", null, null).statusCode());
  }
}
