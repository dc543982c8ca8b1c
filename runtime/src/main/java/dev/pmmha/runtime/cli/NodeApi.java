package dev.pmmha.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;

/** A node's HTTP API as the CLI commands call it: {@code --url}, credentials from the environment, one-line errors. */
final class NodeApi {

  static final ObjectMapper JSON = new ObjectMapper();

  /** The command could not do its work (not a usage mistake). */
  static final class CliFailure extends RuntimeException {
    CliFailure(String message) {
      super(message);
    }
  }

  /** An answer: its status and JSON body. */
  record Answer(int status, JsonNode body) {}

  private final URI base;
  private final Map<String, String> env;
  private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

  private NodeApi(URI base, Map<String, String> env) {
    this.base = base;
    this.env = env;
  }

  /** The node at {@code --url} (default: this host's PMM_HA_HTTP_PORT). */
  static NodeApi of(Args a, Map<String, String> env) {
    String text = a.get("--url", "http://127.0.0.1:" + env.getOrDefault("PMM_HA_HTTP_PORT", "8080"));
    try {
      URI uri = URI.create(text.endsWith("/") ? text.substring(0, text.length() - 1) : text);
      if (uri.getScheme() == null || uri.getHost() == null
          || !(uri.getScheme().equals("http") || uri.getScheme().equals("https"))) {
        throw new IllegalArgumentException();
      }
      return new NodeApi(uri, env);
    } catch (IllegalArgumentException e) {
      throw new Args.UsageException("--url \"" + text + "\" is not an http(s) URL such as http://10.0.0.1:8080");
    }
  }

  /** GET {@code path}; anything but 200 is a usage error that shows the answer. */
  JsonNode get(String path) throws InterruptedException {
    Answer a = send(HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(5)), Duration.ofSeconds(5));
    if (a.status() != 200) {
      throw new Args.UsageException(base.resolve(path) + " answered " + a.status() + ": " + a.body());
    }
    return a.body();
  }

  /** POST {@code json} to {@code path} with the credentials of PMM_HA_API_TOKEN or PMM_HA_ADMIN_USER/PASSWORD. */
  Answer post(String path, String json, Duration timeout) throws InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(timeout)
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json));
    String token = env.getOrDefault("PMM_HA_API_TOKEN", "");
    String password = env.getOrDefault("PMM_HA_ADMIN_PASSWORD", "");
    if (!token.isEmpty()) {
      b.header("Authorization", "Bearer " + token);
    } else if (!password.isEmpty()) {
      String user = env.getOrDefault("PMM_HA_ADMIN_USER", "admin");
      b.header("Authorization", "Basic " + Base64.getEncoder()
          .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
    }
    return send(b, timeout);
  }

  private Answer send(HttpRequest.Builder request, Duration timeout) throws InterruptedException {
    HttpRequest r = request.build();
    try {
      HttpResponse<String> resp = client.send(r, HttpResponse.BodyHandlers.ofString());
      JsonNode body;
      try {
        body = resp.body().isBlank() ? JSON.createObjectNode() : JSON.readTree(resp.body());
      } catch (java.io.IOException e) {
        body = JSON.getNodeFactory().textNode(resp.body());
      }
      return new Answer(resp.statusCode(), body);
    } catch (ConnectException e) {
      throw new CliFailure("cannot reach " + r.uri() + ": connection refused (is pmm-ha running there?)");
    } catch (HttpTimeoutException e) {
      throw new CliFailure("cannot reach " + r.uri() + ": no answer within " + timeout.toSeconds() + " s");
    } catch (java.io.IOException e) {
      throw new CliFailure("cannot reach " + r.uri() + ": " + e.getMessage());
    }
  }
}
