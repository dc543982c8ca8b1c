package dev.pmmha.http;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import dev.pmmha.http.ClusterView.NodeStatus;
import dev.pmmha.http.LeaderView.LeaderInfo;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PMM's leader health check and HA routes. Every answer comes from the in-memory views: no database call and no
 * actor ask per request, so the probe path stays cheap however often HAProxy or Kubernetes asks.
 */
public final class HaRoutes extends AllDirectives {

  private static final Logger log = LoggerFactory.getLogger(HaRoutes.class);

  /** gRPC code 9 (FAILED_PRECONDITION), as PMM answers on a follower. */
  static final String NOT_LEADER_MESSAGE = "this PMM Server isn't the leader";

  private static final HttpResponse LEADER =
      HttpResponse.create().withStatus(StatusCodes.OK).withEntity(ContentTypes.APPLICATION_JSON, "{}");
  private static final HttpResponse NOT_LEADER =
      Json.response(StatusCodes.SERVICE_UNAVAILABLE, Json.ErrorBody.of(9, NOT_LEADER_MESSAGE));

  private final LeaderView leader;
  private final ClusterView cluster;

  public HaRoutes(LeaderView leader, ClusterView cluster) {
    this.leader = leader;
    this.cluster = cluster;
  }

  /** All routes, with PMM-shaped JSON errors for unknown paths, wrong methods and failures. */
  public Route route() {
    return handleExceptions(
        exceptionHandler(),
        () -> handleRejections(rejectionHandler(), this::routes));
  }

  private Route routes() {
    return concat(
        path(segment("v1").slash("leaderHealthCheck"), () -> concat(post(this::leaderHealth), get(this::leaderHealth))),
        path(segment("v1").slash("server").slash("leaderHealthCheck"), () -> get(this::leaderHealth)),
        path(segment("v1").slash("readyz"), () -> get(this::readyz)),
        path(segment("v1").slash("server").slash("readyz"), () -> get(this::readyz)),
        path(segment("v1").slash("ha").slash("status"), () -> get(this::haStatus)),
        path(segment("v1").slash("ha").slash("nodes"), () -> get(this::haNodes)),
        path(segment("v1").slash("ha").slash("leader"), () -> get(this::haLeader)));
  }

  private Route leaderHealth() {
    return complete(!cluster.haEnabled() || leader.isLeader() ? LEADER : NOT_LEADER);
  }

  private Route readyz() {
    ClusterView.Readiness r = cluster.readiness();
    return complete(
        Json.response(
            r.ready() ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE,
            Map.of("status", r.ready() ? "ready" : "not ready", "reason", r.reason())));
  }

  private Route haStatus() {
    return complete(Json.response(StatusCodes.OK, Map.of("status", cluster.haEnabled() ? "Enabled" : "Disabled")));
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
