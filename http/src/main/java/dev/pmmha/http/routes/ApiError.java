package dev.pmmha.http.routes;

import java.util.List;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;

/**
 * A request the routes refuse, with what the client is told: thrown (or failed with) anywhere in the routing tree
 * and turned into PMM's error shape by {@link Errors}, the one place that renders errors.
 *
 * <p>{@code grpcCode} is the gRPC gateway's code PMM puts in its error bodies (3 INVALID_ARGUMENT, 5 NOT_FOUND, 14
 * UNAVAILABLE, 16 UNAUTHENTICATED, ...).
 */
public final class ApiError extends RuntimeException {

  private final StatusCode status;
  private final int grpcCode;
  private final List<HttpHeader> headers;

  public ApiError(StatusCode status, int grpcCode, String message, List<HttpHeader> headers) {
    super(message, null, false, false);
    this.status = status;
    this.grpcCode = grpcCode;
    this.headers = List.copyOf(headers);
  }

  public static ApiError badRequest(String message) {
    return new ApiError(StatusCodes.BAD_REQUEST, 3, message, List.of());
  }

  public static ApiError notFound(String message) {
    return new ApiError(StatusCodes.NOT_FOUND, 5, message, List.of());
  }

  public static ApiError unavailable(String message) {
    return new ApiError(StatusCodes.SERVICE_UNAVAILABLE, 14, message, List.of());
  }

  public StatusCode status() {
    return status;
  }

  public int grpcCode() {
    return grpcCode;
  }

  public List<HttpHeader> headers() {
    return headers;
  }
}
