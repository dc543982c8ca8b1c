package dev.pmmha.runtime.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * {@code pmm-ha.jar grafana-env}: the {@code GF_UNIFIED_ALERTING_HA_*} settings that PMM derives for Grafana's
 * alerting cluster from the same peers, so every node's Grafana forms one alerting cluster.
 */
public final class GrafanaEnv {

  static final String HELP = """
      usage: java -jar pmm-ha.jar grafana-env [--peers HOST,HOST,HOST] [--advertise HOST] [--grafana-gossip-port PORT]
        Prints Grafana's alerting HA settings for this node, as PMM derives them.
        --peers LIST              the nodes (default: PMM_HA_PEERS or PMM_TEST_HA_PEERS)
        --advertise HOST          this node's address (default: PMM_HA_ADVERTISE_ADDRESS)
        --grafana-gossip-port P   Grafana's gossip port (default: PMM_HA_GRAFANA_GOSSIP_PORT, else 9762)
      """;

  private GrafanaEnv() {}

  static int run(String[] argv, Map<String, String> env, PrintStream out) {
    Args a = Args.parse(argv, 1, Set.of("--peers", "--advertise", "--grafana-gossip-port"), Set.of("--help"));
    if (a.has("--help")) {
      out.print(HELP);
      return 0;
    }
    String peersText = a.get("--peers", pmm(env, "PEERS"));
    if (peersText == null || peersText.isBlank()) {
      throw new Args.UsageException("--peers is required (or set PMM_HA_PEERS)");
    }
    String advertise = a.get("--advertise", pmm(env, "ADVERTISE_ADDRESS"));
    if (advertise == null || advertise.isBlank()) {
      throw new Args.UsageException("--advertise is required (or set PMM_HA_ADVERTISE_ADDRESS)");
    }
    String portText = a.get("--grafana-gossip-port", pmm(env, "GRAFANA_GOSSIP_PORT"));
    int port = Args.port(portText == null ? "9762" : portText, "--grafana-gossip-port");
    List<String> peers = Args.peers(peersText, "--peers");
    for (String line : lines(peers, advertise.trim(), port)) {
      out.println(line);
    }
    return 0;
  }

  public static List<String> lines(List<String> peers, String advertise, int port) {
    return List.of(
        "GF_UNIFIED_ALERTING_HA_LISTEN_ADDRESS=0.0.0.0:" + port,
        "GF_UNIFIED_ALERTING_HA_ADVERTISE_ADDRESS=" + advertise + ":" + port,
        "GF_UNIFIED_ALERTING_HA_PEERS=" + peers.stream().map(p -> p + ":" + port).collect(Collectors.joining(",")));
  }

  private static String pmm(Map<String, String> env, String suffix) {
    String v = env.get("PMM_HA_" + suffix);
    return v != null ? v : env.get("PMM_TEST_HA_" + suffix);
  }
}
