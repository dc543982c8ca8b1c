package dev.pmmha.runtime.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.http.api.JobsApi;
import dev.pmmha.http.routes.JobRoutes;
import dev.pmmha.http.routes.Json;
import dev.pmmha.persistence.jobs.JobStore;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;

/** Conversions between the job entity's records, the registry's JSON and the routes' views. */
final class JobView {

  private JobView() {}

  static Job.Spec spec(JobsApi.Definition d) {
    return new Job.Spec(d.interval() == null ? 0 : d.interval().toMillis(), d.command(), d.action(),
        d.timeout().toMillis(), d.catchUp(), d.cron(), d.timezone());
  }

  static JobsApi.Definition definition(Job.Spec s) {
    return new JobsApi.Definition(s.cron() == null ? Duration.ofMillis(s.intervalMs()) : null, s.cron(), s.timezone(),
        s.command(), s.action(), Duration.ofMillis(s.timeoutMs()), s.catchUp());
  }

  /** The registry's copy of the definition, in the API's own JSON shape. */
  static String specJson(Job.Spec s) {
    var o = Json.MAPPER.createObjectNode();
    if (s.cron() != null) {
      o.put("cron", s.cron());
      o.put("timezone", s.timezone());
    } else {
      o.put("interval", JobRoutes.format(Duration.ofMillis(s.intervalMs())));
    }
    if (s.command() != null) {
      var a = o.putArray("command");
      s.command().forEach(a::add);
    } else {
      o.put("action", s.action());
    }
    o.put("timeout", JobRoutes.format(Duration.ofMillis(s.timeoutMs())));
    o.put("catch_up", s.catchUp());
    return Json.write(o);
  }

  static JobsApi.Definition parseSpec(String json) {
    try {
      JsonNode n = Json.MAPPER.readTree(json);
      List<String> command = null;
      if (n.has("command")) {
        command = new ArrayList<>();
        for (JsonNode a : n.get("command")) {
          command.add(a.asText());
        }
      }
      boolean cron = n.hasNonNull("cron");
      return new JobsApi.Definition(cron ? null : JobRoutes.parseDuration("interval", n.get("interval").asText()),
          cron ? n.get("cron").asText() : null, cron ? n.path("timezone").asText("UTC") : null, command,
          n.has("action") ? n.get("action").asText() : null, JobRoutes.parseDuration("timeout", n.get("timeout").asText()),
          n.path("catch_up").asBoolean(false));
    } catch (java.io.IOException | RuntimeException e) {
      throw new IllegalStateException("the registry holds an unreadable job definition: " + json, e);
    }
  }

  static JobsApi.Run run(JobStore.Run r) {
    return new JobsApi.Run(Instant.ofEpochMilli(r.tickMs()), r.node(), Instant.ofEpochMilli(r.startedMs()),
        r.endedMs() == null ? null : Instant.ofEpochMilli(r.endedMs()), r.exitCode(), r.status());
  }

  static JobsApi.JobInfo job(JobStore.Registered r) {
    return new JobsApi.JobInfo(r.jobId(), parseSpec(r.spec()), r.node(),
        r.nodeSinceMs() == null ? null : Instant.ofEpochMilli(r.nodeSinceMs()), r.lastRun().map(JobView::run));
  }

  /** One line for logs and errors: the root cause's message. */
  static String describe(Throwable t) {
    while ((t instanceof CompletionException || t instanceof java.util.concurrent.ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    String m = t.getMessage();
    return t.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
  }
}
