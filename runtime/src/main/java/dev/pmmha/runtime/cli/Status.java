package dev.pmmha.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Set;

/** {@code pmm-ha.jar status --url http://host:8080}: the cluster as that node sees it, as a table. */
public final class Status {

  static final String HELP = """
      usage: java -jar pmm-ha.jar status [--url URL]
        Prints the cluster table (node, role, status, epoch) as the node at URL sees it.
        --url URL   a node's HTTP API (default http://127.0.0.1:8080, or PMM_HA_HTTP_PORT on localhost)
      """;

  private static final ObjectMapper JSON = new ObjectMapper();

  private Status() {}

  static int run(String[] argv, java.util.Map<String, String> env, PrintStream out) throws InterruptedException {
    Args a = Args.parse(argv, 1, Set.of("--url"), Set.of("--help"));
    if (a.has("--help")) {
      out.print(HELP);
      return 0;
    }
    String base = a.get("--url", "http://127.0.0.1:" + env.getOrDefault("PMM_HA_HTTP_PORT", "8080"));
    URI uri;
    try {
      uri = URI.create(base.endsWith("/") ? base.substring(0, base.length() - 1) : base);
      if (uri.getScheme() == null || uri.getHost() == null || !(uri.getScheme().equals("http") || uri.getScheme().equals("https"))) {
        throw new IllegalArgumentException();
      }
    } catch (IllegalArgumentException e) {
      throw new Args.UsageException("--url \"" + base + "\" is not an http(s) URL such as http://10.0.0.1:8080");
    }
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    JsonNode nodes = get(client, uri, "/v1/ha/nodes");
    JsonNode leader = null;
    try {
      leader = get(client, uri, "/v1/ha/leader");
    } catch (Args.UsageException e) {
      // no leader known yet: shown as such
    }
    JsonNode status = get(client, uri, "/v1/ha/status");
    out.print(table(nodes, leader, status.path("status").asText("?")));
    return 0;
  }

  static String table(JsonNode nodes, JsonNode leader, String haStatus) {
    String leaderId = leader == null ? "" : leader.path("node_id").asText("");
    long epoch = leader == null ? 0 : leader.path("epoch").asLong(0);
    StringBuilder b = new StringBuilder();
    b.append(String.format("%-24s %-9s %-8s %-6s %s%n", "NODE", "ROLE", "STATUS", "EPOCH", "TAGS"));
    for (JsonNode n : nodes.path("nodes")) {
      boolean isLeader = "NODE_ROLE_LEADER".equals(n.path("role").asText());
      b.append(String.format("%-24s %-9s %-8s %-6s %s", n.path("node_name").asText(), isLeader ? "leader" : "follower",
          n.path("status").asText(), isLeader ? Long.toString(epoch) : "-",
          n.path("nofailover").asBoolean(false) ? "nofailover" : "").stripTrailing()).append(System.lineSeparator());
    }
    b.append(String.format("%nHA %s; expected nodes %d; leader %s%n", haStatus, nodes.path("expected_nodes").asInt(),
        leaderId.isEmpty() ? "unknown" : leaderId + " (epoch " + epoch + ", since " + leader.path("since").asText() + ")"));
    return b.toString();
  }

  private static JsonNode get(HttpClient client, URI base, String path) throws InterruptedException {
    URI uri = base.resolve(path);
    try {
      HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(),
          HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new Args.UsageException(uri + " answered " + r.statusCode() + ": " + r.body());
      }
      return JSON.readTree(r.body());
    } catch (ConnectException e) {
      throw new CliFailure("cannot reach " + uri + ": connection refused (is pmm-ha running there?)");
    } catch (HttpTimeoutException e) {
      throw new CliFailure("cannot reach " + uri + ": no answer within 5 s");
    } catch (java.io.IOException e) {
      throw new CliFailure("cannot reach " + uri + ": " + e.getMessage());
    }
  }

  /** The command could not do its work (not a usage mistake). */
  static final class CliFailure extends RuntimeException {
    CliFailure(String message) {
      super(message);
    }
  }
}
