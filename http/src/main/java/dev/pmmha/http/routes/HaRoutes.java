package dev.pmmha.http.routes;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.http.api.ClusterView.NodeStatus;
import dev.pmmha.http.api.ClusterView;
import dev.pmmha.http.api.JobsApi;
import dev.pmmha.http.api.LeaderView.LeaderInfo;
import dev.pmmha.http.api.LeaderView;
import dev.pmmha.http.api.NodeControl;
import dev.pmmha.http.api.Observability;
import dev.pmmha.http.api.SettingsApi;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PMM's leader health check and HA routes. Every answer comes from the in-memory views: no database call and no
 * actor ask per request, so the probe path stays cheap however often HAProxy or Kubernetes asks.
 */
public final class HaRoutes extends AllDirectives implements org.apache.pekko.http.javadsl.HandlerProvider {

  private static final Logger log = LoggerFactory.getLogger(HaRoutes.class);

  /** gRPC code 9 (FAILED_PRECONDITION), as PMM answers on a follower. */
  static final String NOT_LEADER_MESSAGE = "this PMM Server isn't the leader";

  private static final HttpResponse LEADER =
      HttpResponse.create().withStatus(StatusCodes.OK).withEntity(ContentTypes.APPLICATION_JSON, "{}");
  public static final HttpResponse NOT_LEADER =
      Json.response(StatusCodes.SERVICE_UNAVAILABLE, Json.ErrorBody.of(9, NOT_LEADER_MESSAGE));

  /** Largest settings value accepted, in bytes of JSON. */
  static final long MAX_SETTING_BYTES = 64 * 1024;
  private static final java.util.regex.Pattern KEY = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  private final LeaderView leader;
  private final ClusterView cluster;
  private final SettingsApi settings;
  private final Observability observability;
  private final Auth auth;
  private final NodeControl control;
  private JobsApi jobs = JobsApi.NONE;

  public HaRoutes(LeaderView leader, ClusterView cluster, SettingsApi settings) {
    this(leader, cluster, settings, Observability.NONE, Auth.open(), NodeControl.NONE);
  }

  public HaRoutes(LeaderView leader, ClusterView cluster, SettingsApi settings, Observability observability,
      Auth auth, NodeControl control) {
    this.leader = leader;
    this.cluster = cluster;
    this.settings = settings;
    this.observability = observability;
    this.auth = auth;
    this.control = control;
  }

  /** Serves {@code /v1/ha/jobs} from {@code jobs}; call before {@link #route()}. */
  public HaRoutes withJobs(JobsApi jobs) {
    this.jobs = jobs;
    return this;
  }

  /** Runs {@code inner} only for a request with valid credentials (when credentials are configured). */
  private Route authenticated(java.util.function.Supplier<Route> inner) {
    return optionalHeaderValueByName("Authorization", header -> auth.check(header)
        .<Route>map(problem -> complete(Json.response(StatusCodes.UNAUTHORIZED, Json.ErrorBody.of(16, problem))
            .addHeader(RawHeader.create("WWW-Authenticate", "Basic realm=\"pmm-ha\", charset=\"UTF-8\""))))
        .orElseGet(inner));
  }

  /** Reads that may be protected too (PMM_HA_AUTH_READS); health checks and readiness never are. */
  private Route readable(java.util.function.Supplier<Route> inner) {
    return auth.protectReads() ? authenticated(inner) : inner.get();
  }

  /** All routes, with PMM-shaped JSON errors for unknown paths, wrong methods and failures. */
  public Route route() {
    // Built once: the Java DSL calls a directive's inner supplier on every request, so a tree built inside the
    // per-request lambda would be rebuilt (every directive, every route object) for each health check.
    Route all = routes();
    Route handled = handleExceptions(exceptionHandler(), () -> handleRejections(rejectionHandler(), () -> all));
    return extractRequest(req -> {
      long start = System.nanoTime();
      String template = routeTemplate(req.getUri().path());
      return mapResponse(resp -> {
        observability.requestServed(template, resp.status().intValue(), System.nanoTime() - start);
        return resp;
      }, () -> handled);
    });
  }

  /**
   * The handler to bind: {@link #route()}, except that a leader check with an answer ready now is answered
   * here, before the routing tree (which builds a request context, a chain of futures and a rejection list per
   * request). Leader checks are the hot path: every load balancer and every probe, every few hundred
   * milliseconds, forever. Same answers, headers and request metrics as the route; anything else (another
   * method or path, a stepping-down leader whose 503 waits for the hand-over) goes through the route.
   */
  @Override
  public org.apache.pekko.japi.function.Function<HttpRequest, java.util.concurrent.CompletionStage<HttpResponse>>
      handler(org.apache.pekko.actor.ClassicActorSystemProvider system) {
    var routed = route().handler(system);
    long timeoutMs = system.classicSystem().settings().config().getDuration(REQUEST_TIMEOUT).toMillis();
    return req -> {
      String path = req.getUri().path();
      if (!isLeaderCheck(req.method().name(), path)) {
        return withTimeout(req, routed.apply(req), timeoutMs);
      }
      long start = System.nanoTime();
      HttpResponse now = leaderCheckAnsweredNow();
      if (now == null) {
        return withTimeout(req, routed.apply(req), timeoutMs);
      }
      observability.requestServed(path, now.status().intValue(), System.nanoTime() - start);
      return java.util.concurrent.CompletableFuture.completedFuture(now);
    };
  }

  /** How long a routed request may take before it is answered 503 (Pekko's own request-timeout is off). */
  public static final String REQUEST_TIMEOUT = "pmm-ha.http.request-timeout";

  /**
   * Pekko HTTP's {@code request-timeout} schedules and cancels a timer for every request, leader checks
   * included: with C2, leader checks under wrk went from 39,000-45,000 to 51,000-53,000 a second without it
   * (two cores; with the image's C1 the difference was within the noise). It is off; the
   * same limit applies here to every request that goes through the routing tree, the only answers that can
   * take time (a write waiting for the leader, a stepping-down leader's 503 waiting for the hand-over). An
   * answer ready at once, as every fast leader check is, needs no timer.
   */
  private static java.util.concurrent.CompletionStage<HttpResponse> withTimeout(
      HttpRequest req, java.util.concurrent.CompletionStage<HttpResponse> answer, long timeoutMs) {
    java.util.concurrent.CompletableFuture<HttpResponse> f = answer.toCompletableFuture();
    if (f.isDone()) {
      return f;
    }
    var out = new java.util.concurrent.CompletableFuture<HttpResponse>();
    f.whenComplete((r, e) -> {
      if (e != null) {
        out.completeExceptionally(e);
      } else {
        out.complete(r);
      }
    });
    return out.completeOnTimeout(null, timeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS).thenApply(r -> {
      if (r != null) {
        return r;
      }
      log.warn("No answer to {} {} within {} ms ({}): answered 503", req.method().name(), req.getUri().path(),
          timeoutMs, REQUEST_TIMEOUT);
      return Json.response(StatusCodes.SERVICE_UNAVAILABLE, Json.ErrorBody.of(4,
          "no answer within " + timeoutMs + " ms; try again"));
    });
  }

  /** The methods and paths {@link #routes()} serves with {@link #leaderHealth()}. */
  public static boolean isLeaderCheck(String method, String path) {
    return switch (path) {
      case "/v1/leaderHealthCheck" -> method.equals("POST") || method.equals("GET");
      case "/v1/server/leaderHealthCheck" -> method.equals("GET");
      default -> false;
    };
  }

  /** The leader's 200 for one epoch: built once per epoch, not once per check. */
  private record EpochAnswer(long epoch, HttpResponse response) {}

  private volatile EpochAnswer leaderAnswer;

  /** The leader check's answer when it needs no waiting (what {@link #leaderHealth()} completes with), or null. */
  public HttpResponse leaderCheckAnsweredNow() {
    if (!cluster.haEnabled()) {
      return LEADER;
    }
    if (leader.isLeader()) {
      long epoch = leader.ownEpoch();
      EpochAnswer last = leaderAnswer;
      if (last == null || last.epoch != epoch) {
        last = new EpochAnswer(epoch, LEADER.addHeader(RawHeader.create(EPOCH_HEADER, Long.toString(epoch))));
        leaderAnswer = last;
      }
      return last.response;
    }
    return leader.handOverSettled().toCompletableFuture().isDone() ? NOT_LEADER : null;
  }

  /** A bounded label for request metrics: the route's template, never the raw path. */
  static String routeTemplate(String path) {
    if (path.startsWith("/v1/ha/settings/")) {
      return "/v1/ha/settings/{key}";
    }
    if (path.startsWith("/v1/ha/jobs/")) {
      return path.endsWith("/runs") ? "/v1/ha/jobs/{id}/runs" : "/v1/ha/jobs/{id}";
    }
    return switch (path) {
      case "/", "/metrics", "/v1/leaderHealthCheck", "/v1/server/leaderHealthCheck", "/v1/readyz",
          "/v1/server/readyz", "/v1/ha/status", "/v1/ha/nodes", "/v1/ha/leader", "/v1/ha/history",
          "/v1/ha/settings", "/v1/ha/jobs" -> path;
      default -> "other";
    };
  }

  private Route routes() {
    Route reads = haReads();
    return concat(
        path(segment("v1").slash("leaderHealthCheck"), () -> concat(post(this::leaderHealth), get(this::leaderHealth))),
        path(segment("v1").slash("server").slash("leaderHealthCheck"), () -> get(this::leaderHealth)),
        path(segment("v1").slash("readyz"), () -> get(this::readyz)),
        path(segment("v1").slash("server").slash("readyz"), () -> get(this::readyz)),
        path(segment("v1").slash("ha").slash("leave"), () -> post(() -> authenticated(this::leave))),
        readable(() -> reads));
  }

  private Route haReads() {
    return concat(
        path(segment("v1").slash("ha").slash("status"), () -> get(this::haStatus)),
        path(segment("v1").slash("ha").slash("nodes"), () -> get(this::haNodes)),
        path(segment("v1").slash("ha").slash("leader"), () -> get(this::haLeader)),
        path(segment("v1").slash("ha").slash("settings"), () -> get(this::allSettings)),
        path(segment("v1").slash("ha").slash("history"), () -> get(this::history)),
        new JobRoutes(jobs, this::authenticated).route(),
        path("metrics", () -> get(() -> complete(HttpResponse.create().withEntity(
            org.apache.pekko.http.javadsl.model.ContentTypes.parse(observability.metricsContentType()),
            observability.scrapeMetrics().getBytes(java.nio.charset.StandardCharsets.UTF_8))))),
        pathSingleSlash(() -> get(() -> getFromResource("pmm-ha/web/status.html",
            org.apache.pekko.http.javadsl.model.ContentTypes.TEXT_HTML_UTF8))),
        path(segment("v1").slash("ha").slash("settings").slash(segment()), key -> concat(
            get(() -> oneSetting(key)),
            put(() -> authenticated(() -> putSetting(key))),
            delete(() -> authenticated(() -> deleteSetting(key))))));
  }

  private Route leaderHealth() {
    HttpResponse now = leaderCheckAnsweredNow();
    return now != null ? complete(now) : completeWithFuture(leaderCheckAnswerLater());
  }

  /** The leader check's answer when {@link #leaderCheckAnsweredNow()} has none: a 503 once the hand-over settled. */
  public java.util.concurrent.CompletionStage<HttpResponse> leaderCheckAnswerLater() {
    return leader.handOverSettled().toCompletableFuture().handle((v, e) -> NOT_LEADER);
  }

  public Observability observability() {
    return observability;
  }

  /** The epoch of the leader that answered, on leader-only answers. */
  public static final String EPOCH_HEADER = "X-PMM-HA-Epoch";

  // --- cluster-wide settings ---

  record SettingBody(String key, JsonNode value, long version, java.time.Instant updatedAt, String updatedBy) {}

  record SettingsBody(long version, Map<String, SettingBody> settings) {}

  record WriteBody(String key, long version, long epoch) {}

  private static SettingBody body(String key, SettingsApi.Entry e) {
    try {
      return new SettingBody(key, Json.MAPPER.readTree(e.json()), e.version(), e.updatedAt(), e.updatedBy());
    } catch (java.io.IOException ex) {
      throw new IllegalStateException("stored setting " + key + " is not JSON", ex);
    }
  }

  private Route allSettings() {
    SettingsApi.Snapshot snap = settings.snapshot();
    Map<String, SettingBody> out = new java.util.TreeMap<>();
    snap.settings().forEach((k, e) -> out.put(k, body(k, e)));
    return complete(Json.response(StatusCodes.OK, new SettingsBody(snap.version(), out)));
  }

  private Route oneSetting(String key) {
    if (!KEY.matcher(key).matches()) {
      return complete(badKey(key));
    }
    SettingsApi.Entry e = settings.snapshot().settings().get(key);
    return e == null
        ? complete(Json.response(StatusCodes.NOT_FOUND, Json.ErrorBody.of(5, "no setting named " + key)))
        : complete(Json.response(StatusCodes.OK, body(key, e)));
  }

  private static HttpResponse badKey(String key) {
    return Json.response(StatusCodes.BAD_REQUEST, Json.ErrorBody.of(3,
        "invalid key \"" + key + "\": use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"));
  }

  private Route putSetting(String key) {
    if (!KEY.matcher(key).matches()) {
      return complete(badKey(key));
    }
    return extractRequestEntity(entity -> {
      String type = entity.getContentType().mediaType().toString();
      if (!ACCEPTED_TYPES.contains(type)) {
        return complete(Json.response(StatusCodes.UNSUPPORTED_MEDIA_TYPE, Json.ErrorBody.of(3,
            "send the value as application/json (got " + type + ")")));
      }
      return putJson(key);
    });
  }

  /** JSON, or what {@code curl -d} sends by default; anything else is refused with 415. */
  private static final java.util.Set<String> ACCEPTED_TYPES = java.util.Set.of(
      "application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream");

  private Route leave() {
    return onComplete(control.leave(), r -> r.isSuccess()
        ? complete(Json.response(StatusCodes.ACCEPTED, Map.of("status", "leaving")))
        : complete(Json.response(StatusCodes.INTERNAL_SERVER_ERROR, Json.ErrorBody.of(13, "cannot leave: " + r.failed().get().getMessage()))));
  }

  private Route putJson(String key) {
    return withSizeLimit(MAX_SETTING_BYTES, () -> entity(Unmarshaller.entityToString(), text -> {
      JsonNode value;
      try {
        value = text.isBlank() ? null : Json.MAPPER.readTree(text);
      } catch (java.io.IOException e) {
        value = null;
      }
      if (value == null) {
        return complete(Json.response(StatusCodes.BAD_REQUEST, Json.ErrorBody.of(3,
            "the body must be a JSON value (for example 42, \"text\", true or {\"a\":1})")));
      }
      return written(settings.put(key, Json.write(value)), key);
    }));
  }

  private Route deleteSetting(String key) {
    if (!KEY.matcher(key).matches()) {
      return complete(badKey(key));
    }
    return written(settings.delete(key), key);
  }

  private Route written(java.util.concurrent.CompletionStage<SettingsApi.WriteAck> write, String key) {
    return onComplete(write, result -> {
      if (result.isSuccess()) {
        SettingsApi.WriteAck ack = result.get();
        if (!ack.existed()) {
          return complete(Json.response(StatusCodes.NOT_FOUND, Json.ErrorBody.of(5, "no setting named " + key)));
        }
        return complete(Json.response(StatusCodes.OK, new WriteBody(ack.key(), ack.version(), ack.epoch()))
            .addHeader(RawHeader.create(EPOCH_HEADER, Long.toString(ack.epoch()))));
      }
      Throwable t = result.failed().get();
      if (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
        t = t.getCause();
      }
      if (t instanceof SettingsApi.NoLeaderException) {
        // on a node handing its leadership over, the 503 waits like the leader check's (see leaderHealth): the
        // load balancer's retry of this idempotent write then finds the next leader in service
        var answer = Json.response(StatusCodes.SERVICE_UNAVAILABLE, Json.ErrorBody.of(14, t.getMessage()));
        var settled = leader.handOverSettled().toCompletableFuture();
        return settled.isDone() ? complete(answer) : completeWithFuture(settled.handle((v, e) -> answer));
      }
      log.error("Settings write of {} failed", key, t);
      return complete(Json.response(StatusCodes.INTERNAL_SERVER_ERROR, Json.ErrorBody.of(13, "internal error")));
    });
  }

  record HistoryBody(List<Observability.HistoryEntry> history) {}

  private Route history() {
    return onSuccess(observability.history(50), h -> complete(Json.response(StatusCodes.OK, new HistoryBody(h))));
  }

  private Route readyz() {
    ClusterView.Readiness r = cluster.readiness();
    return complete(
        Json.response(
            r.ready() ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE,
            Map.of("status", r.ready() ? "ready" : "not ready", "reason", r.reason())));
  }

  /** PMM's {@code api/ha/v1} status: {@code namespace} is the pod's namespace on Kubernetes, else empty. */
  record StatusBody(String status, String namespace) {}

  private Route haStatus() {
    return complete(Json.response(StatusCodes.OK,
        new StatusBody(cluster.haEnabled() ? "Enabled" : "Disabled", cluster.namespace())));
  }

  record NodesBody(List<NodeEntry> nodes, int expectedNodes) {}

  record NodeEntry(String nodeName, String role, String status) {}

  private Route haNodes() {
    List<NodeEntry> nodes =
        cluster.nodes().stream().map((NodeStatus n) -> new NodeEntry(n.nodeName(), n.role(), n.status())).toList();
    return complete(Json.response(StatusCodes.OK, new NodesBody(nodes, cluster.expectedNodes())));
  }

  record LeaderBody(String nodeId, long epoch, Instant since) {}

  private Route haLeader() {
    return leader
        .currentLeader()
        .map((LeaderInfo l) -> complete(Json.response(StatusCodes.OK, new LeaderBody(l.nodeId(), l.epoch(), l.since()))))
        .orElseGet(() -> complete(Json.response(
            StatusCodes.SERVICE_UNAVAILABLE, Json.ErrorBody.of(14, "no leader is known to this node yet"))));
  }

  private ExceptionHandler exceptionHandler() {
    return ExceptionHandler.newBuilder()
        .match(org.apache.pekko.http.scaladsl.model.EntityStreamSizeException.class, e -> complete(Json.response(
            StatusCodes.PAYLOAD_TOO_LARGE, Json.ErrorBody.of(3, "the body is larger than " + MAX_SETTING_BYTES + " bytes"))))
        .matchAny(e -> {
          log.error("Request failed", e);
          return complete(Json.response(StatusCodes.INTERNAL_SERVER_ERROR, Json.ErrorBody.of(13, "internal error")));
        })
        .build();
  }

  private RejectionHandler rejectionHandler() {
    return RejectionHandler.newBuilder()
        .handleAll(MethodRejection.class, rs -> complete(Json.response(
            StatusCodes.METHOD_NOT_ALLOWED,
            Json.ErrorBody.of(12, "method not allowed; use " + rs.stream()
                .map(r -> r.supported().name()).distinct().sorted().reduce((a, b) -> a + ", " + b).orElse("")))))
        .handleNotFound(extractUnmatchedPath(p -> complete(Json.response(
            StatusCodes.NOT_FOUND, Json.ErrorBody.of(5, "no such endpoint: " + p)))))
        .build()
        .withFallback(RejectionHandler.defaultHandler());
  }
}
