package dev.pmmha.runtime.leader.services;

import com.typesafe.config.Config;
import dev.pmmha.runtime.leader.spi.LeaderContext;
import dev.pmmha.runtime.leader.spi.LeaderService;
import dev.pmmha.runtime.process.ExternalCommand;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a configured command while this node is leader (PMM's {@code supervisorctl start pmm-agent} case) and
 * stops it when leadership ends: SIGTERM, then SIGKILL after {@code kill-timeout}, then the optional
 * {@code stop-command}. A command that exits 0 by itself is a finished one-shot; one that fails is reported and
 * restarted with backoff by the runner. The command sees PMM_HA_NODE_ID, PMM_HA_EPOCH and PMM_HA_ROLE=leader.
 */
public final class CommandLeaderService implements LeaderService {

  private static final Logger log = LoggerFactory.getLogger("dev.pmmha.runtime.services.Command");

  private final String name;
  private final List<String> command;
  private final List<String> stopCommand;
  private final Duration killTimeout;
  private final Duration stopCommandTimeout;
  private Process process;
  private volatile boolean stopping;

  public CommandLeaderService(Config c) {
    this.name = c.getString("name");
    this.command = c.getStringList("command");
    this.stopCommand = c.hasPath("stop-command") ? c.getStringList("stop-command") : List.of();
    this.killTimeout = c.hasPath("kill-timeout") ? c.getDuration("kill-timeout") : Duration.ofSeconds(10);
    this.stopCommandTimeout = c.hasPath("stop-timeout") ? c.getDuration("stop-timeout") : Duration.ofSeconds(30);
    if (command.isEmpty()) {
      throw new IllegalArgumentException("leader service " + name + ": command is empty");
    }
  }

  @Override
  public synchronized void start(LeaderContext ctx) throws Exception {
    stopping = false;
    Map<String, String> env = Map.of("PMM_HA_NODE_ID", ctx.nodeId(), "PMM_HA_EPOCH", String.valueOf(ctx.epoch()),
        "PMM_HA_ROLE", "leader");
    Process p = ExternalCommand.start(command, env, log, name, killTimeout);
    process = p;
    p.onExit().thenAccept(done -> {
      if (stopping) {
        return;
      }
      if (done.exitValue() == 0) {
        log.info("[{}] finished (exit 0)", name);
      } else {
        ctx.reportFailure(new IllegalStateException("command exited with " + done.exitValue()));
      }
    });
  }

  @Override
  public synchronized void stop() throws Exception {
    stopping = true;
    if (process != null) {
      ExternalCommand.terminate(process, killTimeout);
      process = null;
    }
    if (!stopCommand.isEmpty()) {
      int code = ExternalCommand.run(stopCommand,
          Map.of("PMM_HA_ROLE", "follower"), log, name + "-stop", stopCommandTimeout);
      if (code != 0) {
        throw new IllegalStateException("stop-command exited with " + code);
      }
    }
  }
}
