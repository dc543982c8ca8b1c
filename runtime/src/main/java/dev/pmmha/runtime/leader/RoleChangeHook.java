package dev.pmmha.runtime.leader;

import dev.pmmha.runtime.process.ExternalCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code PMM_HA_ON_ROLE_CHANGE}: a script called as {@code script leader|follower <epoch> <node-id>} on every
 * role change of this node, like Patroni's {@code on_role_change}. Calls run one at a time, in the order of the
 * changes, each bounded by a timeout; a failing script is logged and does not stop the node.
 */
public final class RoleChangeHook implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(RoleChangeHook.class);

  private final Path script;
  private final String nodeId;
  private final Duration timeout;
  private final ExecutorService queue = Executors.newSingleThreadExecutor(LeaderServices.daemon("pmm-ha-role-hook"));
  private final KubernetesLeaderLabel label;
  private String lastRole = "";

  public RoleChangeHook(Path script, String nodeId, Duration timeout, KubernetesLeaderLabel label) {
    this.script = script;
    this.nodeId = nodeId;
    this.timeout = timeout;
    this.label = label;
  }

  /** Queues a call unless the role is the one last reported. */
  public synchronized void roleChanged(String role, long epoch) {
    if (role.equals(lastRole)) {
      return;
    }
    lastRole = role;
    log.info("ROLE {}: node {} epoch {}", role, nodeId, epoch);
    if (label != null) {
      queue.submit(() -> label.roleChanged(role));
    }
    if (script == null) {
      return;
    }
    queue.submit(() -> {
      if (!Files.isExecutable(script)) {
        log.error("PMM_HA_ON_ROLE_CHANGE={} is not an executable file; {} not reported", script, role);
        return;
      }
      try {
        int code = ExternalCommand.run(List.of(script.toString(), role, String.valueOf(epoch), nodeId),
            Map.of("PMM_HA_ROLE", role, "PMM_HA_EPOCH", String.valueOf(epoch), "PMM_HA_NODE_ID", nodeId),
            log, "on-role-change", timeout);
        if (code != 0) {
          log.error("PMM_HA_ON_ROLE_CHANGE {} {} exited with {}", role, epoch, code);
        }
      } catch (Exception e) {
        log.error("PMM_HA_ON_ROLE_CHANGE {} {} failed: {}", role, epoch, e.getMessage());
      }
    });
  }

  @Override
  public void close() {
    queue.shutdown();
  }
}
