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
      Errors.response(new ApiError(StatusCodes.SERVICE_UNAVAILABLE, 9, NOT_LEADER_MESSAGE, List.of()));

  /** Largest settings value accepted, in bytes of JSON. */
  static final long MAX_SETTING_BYTES = 64 * 1024;
  private static final java.util.regex.Pattern KEY = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  private final LeaderView leader;
  private final ClusterView cluster;
  private final SettingsApi settings;
  private final Observability observability;
  private final Auth auth;
  private final NodeControl control;
  private final Errors errors;
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
    this.errors = new Errors(leader);
  }

  /** Serves {@code /v1/ha/jobs} from {@code jobs}; call before {@link #route()}. */
  public HaRoutes withJobs(JobsApi jobs) {
    this.jobs = jobs;
    return this;
  }

  /** Runs {@code inner} only for a request with valid credentials (when credentials are configured). */
  private Route authenticated(java.util.function.Supplier<Route> inner) {
    return optionalHeaderValueByName("Authorization", header -> auth.check(header)
        .<Route>map(problem -> failWith(new ApiError(StatusCodes.UNAUTHORIZED, 16, problem,
            List.of(RawHeader.create("WWW-Authenticate", "Basic realm=\"pmm-ha\", charset=\"UTF-8\"")))))
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
    Route handled = handleExceptions(errors.exceptions(), () -> handleRejections(errors.rejections(), () -> all));
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
      return Errors.response(new ApiError(StatusCodes.SERVICE_UNAVAILABLE, 4,
          "no answer within " + timeoutMs + " ms; try again", List.of()));
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
          "/v1/ha/settings", "/v1/ha/jobs", "/v1/ha/switchover", "/v1/ha/leave" -> path;
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
        path(segment("v1").slash("ha").slash("switchover"), () -> post(() -> authenticated(this::switchover))),
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

  private static String validKey(String key) {
    if (!KEY.matcher(key).matches()) {
      throw ApiError.badRequest("invalid key \"" + key
          + "\": use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }
    return key;
  }

  private static ApiError noSetting(String key) {
    return ApiError.notFound("no setting named " + key);
  }

  private Route allSettings() {
    // the whole list says which settings do not exist: from the leader's copy
    return onSuccess(settings.latest(), snapshot -> complete(StatusCodes.OK, snapshot, Json.MARSHALLER));
  }

  private Route oneSetting(String key) {
    validKey(key);
    return onSuccess(settings.read(), snapshot -> {
      SettingsApi.Setting s = snapshot.settings().get(key);
      if (s != null) {
        return complete(StatusCodes.OK, s, Json.MARSHALLER);
      }
      // not in this node's copy: a write acknowledged a moment ago elsewhere may not have reached it yet
      return onSuccess(settings.latest(), latest -> {
        SettingsApi.Setting l = latest.settings().get(key);
        return l == null ? failWith(noSetting(key)) : complete(StatusCodes.OK, l, Json.MARSHALLER);
      });
    });
  }

  private Route putSetting(String key) {
    validKey(key);
    return extractRequestEntity(entity -> {
      String type = entity.getContentType().mediaType().toString();
      if (!ACCEPTED_TYPES.contains(type)) {
        return failWith(new ApiError(StatusCodes.UNSUPPORTED_MEDIA_TYPE, 3,
            "send the value as application/json (got " + type + ")", List.of()));
      }
      return withSizeLimit(MAX_SETTING_BYTES, () -> entity(Unmarshaller.entityToString(), text -> {
        JsonNode value = Json.parse(text, "the body must be a JSON value (for example 42, \"text\", true or {\"a\":1})");
        return onSuccess(settings.put(key, value), ack -> written(ack, key));
      }));
    });
  }

  /** JSON, or what {@code curl -d} sends by default; anything else is refused with 415. */
  private static final java.util.Set<String> ACCEPTED_TYPES = java.util.Set.of(
      "application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream");

  private Route deleteSetting(String key) {
    return onSuccess(settings.delete(validKey(key)), ack -> written(ack, key));
  }

  private Route written(SettingsApi.WriteAck ack, String key) {
    return ack.existed()
        ? complete(StatusCodes.OK, List.of(RawHeader.create(EPOCH_HEADER, Long.toString(ack.epoch()))), ack,
            Json.MARSHALLER)
        : failWith(noSetting(key));
  }

  private Route leave() {
    return onComplete(control.leave(), r -> r.isSuccess()
        ? complete(StatusCodes.ACCEPTED, Map.of("status", "leaving"), Json.MARSHALLER)
        : failWith(new ApiError(StatusCodes.INTERNAL_SERVER_ERROR, 13, "cannot leave: " + r.failed().get().getMessage(),
            List.of())));
  }

  /**
   * {@code POST /v1/ha/switchover}, body empty or {@code {"candidate":"node-2"}} (Patroni's word): answered once
   * the next leader holds its epoch.
   */
  private Route switchover() {
    return withSizeLimit(MAX_SETTING_BYTES, () -> entity(Unmarshaller.entityToString(), text -> {
      java.util.Optional<String> candidate = java.util.Optional.empty();
      if (!text.isBlank()) {
        String expected = "the body must be empty or a JSON object such as {\"candidate\":\"pmm-ha-2\"}";
        JsonNode body = Json.parse(text, expected);
        if (!body.isObject()) {
          throw ApiError.badRequest(expected);
        }
        for (var it = body.fieldNames(); it.hasNext(); ) {
          String f = it.next();
          if (!f.equals("candidate")) {
            throw ApiError.badRequest("unknown field \"" + f + "\"; " + expected);
          }
        }
        JsonNode c = body.get("candidate");
        if (c != null && !c.isNull()) {
          if (!c.isTextual() || !NODE_ID.matcher(c.asText()).matches()) {
            throw ApiError.badRequest("candidate must be a node id (PMM_HA_NODE_ID), for example \"pmm-ha-2\"; got " + c);
          }
          candidate = java.util.Optional.of(c.asText());
        }
      }
      return onSuccess(control.switchover(candidate), done -> complete(StatusCodes.OK, done, Json.MARSHALLER));
    }));
  }

  private static final java.util.regex.Pattern NODE_ID = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");

  record HistoryBody(List<Observability.HistoryEntry> history) {}

  private Route history() {
    return onSuccess(observability.history(50), h -> complete(StatusCodes.OK, new HistoryBody(h), Json.MARSHALLER));
  }

  record ReadyBody(String status, String reason) {}

  private Route readyz() {
    ClusterView.Readiness r = cluster.readiness();
    return complete(r.ready() ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE,
        new ReadyBody(r.ready() ? "ready" : "not ready", r.reason()), Json.MARSHALLER);
  }

  /** PMM's {@code api/ha/v1} status: {@code namespace} is the pod's namespace on Kubernetes, else empty. */
  record StatusBody(String status, String namespace) {}

  private Route haStatus() {
    return complete(StatusCodes.OK, new StatusBody(cluster.haEnabled() ? "Enabled" : "Disabled", cluster.namespace()),
        Json.MARSHALLER);
  }

  record NodesBody(List<NodeEntry> nodes, int expectedNodes) {}

  record NodeEntry(String nodeName, String role, String status, boolean nofailover) {}

  private Route haNodes() {
    List<NodeEntry> nodes =
        cluster.nodes().stream().map((NodeStatus n) -> new NodeEntry(n.nodeName(), n.role(), n.status(), n.nofailover())).toList();
    return complete(StatusCodes.OK, new NodesBody(nodes, cluster.expectedNodes()), Json.MARSHALLER);
  }

  record LeaderBody(String nodeId, long epoch, Instant since) {}

  private Route haLeader() {
    return leader
        .currentLeader()
        .<Route>map((LeaderInfo l) -> complete(StatusCodes.OK, new LeaderBody(l.nodeId(), l.epoch(), l.since()), Json.MARSHALLER))
        .orElseGet(() -> failWith(ApiError.unavailable("no leader is known to this node yet")));
  }
}
