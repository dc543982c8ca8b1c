package dev.pmmha.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;
import java.util.Set;

/** {@code pmm-ha.jar status --url http://host:8080}: the cluster as that node sees it, as a table. */
public final class Status {

  static final String HELP = """
      usage: java -jar pmm-ha.jar status [--url URL]
        Prints the cluster table (node, role, status, epoch) as the node at URL sees it.
        --url URL   a node's HTTP API (default http://127.0.0.1:8080, or PMM_HA_HTTP_PORT on localhost)
      """;

  private Status() {}

  static int run(String[] argv, java.util.Map<String, String> env, PrintStream out) throws InterruptedException {
    Args a = Args.parse(argv, 1, Set.of("--url"), Set.of("--help"));
    if (a.has("--help")) {
      out.print(HELP);
      return 0;
    }
    NodeApi api = NodeApi.of(a, env);
    JsonNode nodes = api.get("/v1/ha/nodes");
    JsonNode leader = null;
    try {
      leader = api.get("/v1/ha/leader");
    } catch (Args.UsageException e) {
      // no leader known yet: shown as such
    }
    JsonNode status = api.get("/v1/ha/status");
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
}
