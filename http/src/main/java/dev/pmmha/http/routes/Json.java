package dev.pmmha.http.routes;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.util.List;
import org.apache.pekko.http.javadsl.marshallers.jackson.Jackson;
import org.apache.pekko.http.javadsl.marshalling.Marshaller;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.RequestEntity;
import org.apache.pekko.http.javadsl.model.StatusCode;

/**
 * JSON bodies in PMM's style (snake_case names, ISO-8601 times), through one mapper: routes complete with
 * {@link #MARSHALLER} (pekko-http-jackson); {@link #response} renders the few answers built once, outside the
 * routing tree.
 */
public final class Json {

  public static final ObjectMapper MAPPER =
      new ObjectMapper()
          .registerModule(new JavaTimeModule())
          .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
          .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

  public static final Marshaller<Object, RequestEntity> MARSHALLER = Jackson.marshaller(MAPPER);

  private Json() {}

  public static String write(Object value) {
    try {
      return MAPPER.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot render " + value.getClass().getSimpleName() + " as JSON", e);
    }
  }

  /** A request body's JSON value; {@code what} says, in the 400, what the body must be. */
  static JsonNode parse(String text, String what) {
    try {
      JsonNode value = text == null || text.isBlank() ? null : MAPPER.readTree(text);
      if (value != null) {
        return value;
      }
    } catch (java.io.IOException e) {
      // not JSON: the same 400 as an empty body
    }
    throw ApiError.badRequest(what);
  }

  public static HttpResponse response(StatusCode status, Object body) {
    return HttpResponse.create()
        .withStatus(status)
        .withEntity(ContentTypes.APPLICATION_JSON, write(body));
  }

  /** PMM's (gRPC gateway's) error shape: {@code {"error","code","message","details"}}. */
  public record ErrorBody(String error, int code, String message, List<Object> details) {
    public static ErrorBody of(int grpcCode, String message) {
      return new ErrorBody(message, grpcCode, message, List.of());
    }
  }
}
