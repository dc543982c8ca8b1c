package dev.pmmha.runtime.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

/** {@code pmm-ha.jar switchover [--to NODE] --url URL}: Patroni's switchover, through a node's API. */
final class SwitchoverCommand {

  static final String HELP = """
      usage: java -jar pmm-ha.jar switchover [--to NODE] [--url URL]
        Moves leadership gracefully: to NODE, or with no --to to the node next in line. Waits until the next
        leader holds its epoch (at most 30 s) and prints where leadership went. The nodes that step back exit and
        their supervisor (Docker's restart policy, Kubernetes, systemd) starts them again as followers.
        --to NODE   the node that is to lead (its PMM_HA_NODE_ID)
        --url URL   the leader's HTTP API, or the load balancer's (default http://127.0.0.1:8080, or
                    PMM_HA_HTTP_PORT on localhost)
        Credentials: PMM_HA_API_TOKEN, or PMM_HA_ADMIN_USER and PMM_HA_ADMIN_PASSWORD, as the nodes have them.
      """;

  private SwitchoverCommand() {}

  static int run(String[] argv, Map<String, String> env, PrintStream out) throws InterruptedException {
    Args a = Args.parse(argv, 1, Set.of("--url", "--to"), Set.of("--help"));
    if (a.has("--help")) {
      out.print(HELP);
      return 0;
    }
    NodeApi api = NodeApi.of(a, env);
    String to = a.get("--to", "");
    String body = to.isEmpty() ? "" : NodeApi.JSON.createObjectNode().put("candidate", to).toString();
    NodeApi.Answer answer = api.post("/v1/ha/switchover", body, Duration.ofSeconds(30));
    JsonNode b = answer.body();
    if (answer.status() != 200) {
      throw new NodeApi.CliFailure("refused (" + answer.status() + "): " + b.path("message").asText(b.toString()));
    }
    out.printf("leadership moved from %s to %s, epoch %d%n", b.path("from").asText(), b.path("to").asText(),
        b.path("epoch").asLong());
    return 0;
  }
}
