package dev.pmmha.runtime;

/** The testkit's throwaway PostgreSQL per test class, and the environment of node processes that use it. */
public abstract class WithPostgres extends dev.pmmha.testkit.WithPostgres {

  /** The environment of one real node process on {@code ip}, in a cluster of {@code ips} on {@code db}. */
  public static java.util.Map<String, String> nodeEnv(
      String id, String ip, String[] ips, int gossip, int raft, int http, String db) {
    java.util.Map<String, String> env = new java.util.HashMap<>();
    env.put("PMM_HA_ENABLE", "1");
    env.put("PMM_HA_NODE_ID", id);
    env.put("PMM_HA_ADVERTISE_ADDRESS", ip);
    env.put("PMM_HA_BIND_ADDRESS", ip);
    env.put("PMM_HA_PEERS", String.join(",", ips));
    env.put("PMM_HA_GOSSIP_PORT", String.valueOf(gossip));
    env.put("PMM_HA_RAFT_PORT", String.valueOf(raft));
    env.put("PMM_HA_HTTP_PORT", String.valueOf(http));
    // a free probe port, not the default 8079, which something else on the test machine may hold
    env.put("PMM_HA_PROBE_PORT", String.valueOf(dev.pmmha.testkit.PostgresServer.freePort()));
    env.put("PMM_HA_STORE_URL", db);
    env.put("PMM_POSTGRES_USERNAME", pg.user());
    env.put("PMM_POSTGRES_DBPASSWORD", pg.password());
    // -Dpmmha.it.env=K=V[,K=V...]: more settings for every node, to run these tests with an opt-in setting on
    for (String kv : System.getProperty("pmmha.it.env", "").split(",")) {
      int eq = kv.indexOf('=');
      if (eq > 0) {
        env.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
      }
    }
    return env;
  }

  /**
   * {@link #nodeEnv} with a 3 s failure-detector pause and SBR stable-after, for tests about what a cluster does,
   * not how fast it notices a failure: three JVMs started at once on a loaded two-core machine pause past the 1 s
   * defaults, and the SBR downs one of them (or all, down-all-when-unstable, after a kill -9); seen at load average
   * 15-30. A crash is still recognised at once by the crash watch (refused connections).
   */
  public static java.util.Map<String, String> patientNodeEnv(
      String id, String ip, String[] ips, int gossip, int raft, int http, String db) {
    java.util.Map<String, String> env = nodeEnv(id, ip, ips, gossip, raft, http, db);
    env.put("PMM_HA_FAILURE_DETECTOR_PAUSE", "3s");
    env.put("PMM_HA_SBR_STABLE_AFTER", "3s");
    return env;
  }
}
