package dev.pmmha.http.routes;

import dev.pmmha.http.api.JobsApi;
import dev.pmmha.http.api.LeaderView;
import dev.pmmha.http.api.NodeControl;
import dev.pmmha.http.api.SettingsApi;
import java.util.concurrent.CompletionException;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one error mapper of the HTTP edge: every refusal and failure in the routing tree becomes PMM's error body
 * ({@link Json.ErrorBody}) here, and the answers built outside the tree (the leader check's 503, the request
 * timeout) are rendered by {@link #response(ApiError)}.
 */
public final class Errors extends AllDirectives {

  private static final Logger log = LoggerFactory.getLogger(Errors.class);

  private final LeaderView leader;

  Errors(LeaderView leader) {
    this.leader = leader;
  }

  /** The response for {@code e}: its status, its headers and PMM's error body. */
  public static HttpResponse response(ApiError e) {
    return Json.response(e.status(), Json.ErrorBody.of(e.grpcCode(), e.getMessage())).addHeaders(e.headers());
  }

  ExceptionHandler exceptions() {
    return ExceptionHandler.newBuilder()
        .match(CompletionException.class, e -> e.getCause() != null ? answer(e.getCause()) : answer(e))
        .matchAny(this::answer)
        .build();
  }

  private Route answer(Throwable t) {
    if (t instanceof ApiError e) {
      return complete(response(e));
    }
    if (t instanceof SettingsApi.NoLeaderException) {
      // on a node handing its leadership over, the 503 waits like the leader check's: the load balancer's retry
      // of this idempotent write then finds the next leader in service
      HttpResponse answer = response(ApiError.unavailable(t.getMessage()));
      var settled = leader.handOverSettled().toCompletableFuture();
      return settled.isDone() ? complete(answer) : completeWithFuture(settled.handle((v, x) -> answer));
    }
    if (t instanceof NodeControl.SwitchoverRefused) {
      return complete(response(new ApiError(StatusCodes.CONFLICT, 9, t.getMessage(), java.util.List.of())));
    }
    if (t instanceof JobsApi.UnavailableException || t instanceof SettingsApi.NotCurrentException
        || t instanceof NodeControl.SwitchoverUnfinished) {
      return complete(response(ApiError.unavailable(t.getMessage())));
    }
    if (t instanceof EntityStreamSizeException e) {
      return complete(response(new ApiError(StatusCodes.PAYLOAD_TOO_LARGE, 3,
          "the body is larger than " + e.limit() + " bytes", java.util.List.of())));
    }
    return extractRequest(req -> {
      log.error("{} {} failed", req.method().name(), req.getUri().path(), t);
      return complete(response(new ApiError(StatusCodes.INTERNAL_SERVER_ERROR, 13, "internal error",
          java.util.List.of())));
    });
  }

  RejectionHandler rejections() {
    return RejectionHandler.newBuilder()
        .handleAll(MethodRejection.class, rs -> complete(response(new ApiError(StatusCodes.METHOD_NOT_ALLOWED, 12,
            "method not allowed; use " + rs.stream().map(r -> r.supported().name()).distinct().sorted()
                .reduce((a, b) -> a + ", " + b).orElse(""),
            java.util.List.of()))))
        .handleNotFound(extractUnmatchedPath(p -> complete(response(ApiError.notFound("no such endpoint: " + p)))))
        .build()
        .withFallback(RejectionHandler.defaultHandler());
  }
}
