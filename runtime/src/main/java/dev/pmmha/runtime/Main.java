package dev.pmmha.runtime;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.StoreUnavailableException;
import dev.pmmha.runtime.config.NodeSettings;
import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.config.TlsSettings;
import dev.pmmha.runtime.leader.LeaderSettings;
import java.util.Optional;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code java -jar pmm-ha.jar}: runs one node configured by environment. Exit codes: 0 after a graceful stop,
 * 2 for bad configuration, 3 when the store cannot be used, 4 when the node was downed by the cluster, 5 when it
 * could not join within the join timeout, 1 otherwise.
 */
public final class Main {

  public static final int EXIT_CONFIG = 2;
  public static final int EXIT_STORE = 3;
  public static final int EXIT_DOWNED = 4;
  public static final int EXIT_JOIN_TIMEOUT = 5;

  private Main() {}

  public static void main(String[] args) {
    if (args.length > 0 && (args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help"))) {
      System.out.print(dev.pmmha.runtime.cli.Cli.HELP);
      return;
    }
    if (args.length > 0 && !args[0].equals("node")) {
      System.exit(dev.pmmha.runtime.cli.Cli.run(args, System.getenv(), System.out, System.err));
    }
    if (args.length > 1) {
      System.err.println("pmm-ha node: takes no arguments; it is configured by environment (see README.md)");
      System.exit(EXIT_CONFIG);
    }
    System.exit(run());
  }

  static int run() {
    Config config;
    try {
      config = PmmHaConfig.load(System.getenv());
      // Validate before anything else logs, so that a bad value is the one line an operator sees.
      NodeSettings node = NodeSettings.create(config);
      StoreSettings.create(config);
      HttpSettings.create(config);
      LeaderSettings.create(config);
      TlsSettings.create(config);
      dev.pmmha.runtime.cluster.CrashWatch.Settings.from(config);
      System.setProperty("PMM_HA_NODE", node.nodeId());
      String format = config.getString("pmm-ha.log-format").trim().toLowerCase(java.util.Locale.ROOT);
      if (format.equals("json")) {
        System.setProperty("logback.configurationFile", "logback-json.xml");
      } else if (!format.equals("text")) {
        throw new SettingsException("PMM_HA_LOG_FORMAT", format, "text or json");
      }
    } catch (SettingsException | IllegalArgumentException | ConfigException e) {
      System.err.println("pmm-ha: configuration error: " + e.getMessage());
      return EXIT_CONFIG;
    }
    Logger log = LoggerFactory.getLogger(Main.class);
    PmmHaNode node;
    try {
      node = PmmHaNode.start(config, PmmHaNode.Formation.AUTOMATIC);
    } catch (StoreUnavailableException e) {
      log.error("Cannot start: {}", e.getMessage());
      return EXIT_STORE;
    } catch (RuntimeException e) {
      log.error("Cannot start: {}", rootMessage(e));
      return 1;
    }
    ActorSystem<Object> system = node.system();
    stopGracefullyOn(system, "TERM");
    stopGracefullyOn(system, "INT");
    system.getWhenTerminated().toCompletableFuture().join();
    Optional<CoordinatedShutdown.Reason> reason = CoordinatedShutdown.get(system).getShutdownReason();
    return exitCode(reason.orElse(null), log);
  }

  /**
   * SIGTERM/SIGINT run the graceful leave and then let {@code main} exit with its own code (0), instead of the
   * JVM's default handler that would end the process with 143 whatever the shutdown did.
   */
  @SuppressWarnings("sunapi")
  private static void stopGracefullyOn(ActorSystem<?> system, String signal) {
    try {
      sun.misc.Signal.handle(new sun.misc.Signal(signal), s ->
          CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.jvmExitReason()));
    } catch (IllegalArgumentException e) {
      // the signal is not available here: the JVM's shutdown hook still runs the graceful leave
    }
  }

  static int exitCode(CoordinatedShutdown.Reason reason, Logger log) {
    if (reason == null || reason == CoordinatedShutdown.jvmExitReason()
        || reason == CoordinatedShutdown.clusterLeavingReason()) {
      log.info("Stopped");
      return 0;
    }
    if (reason == CoordinatedShutdown.clusterDowningReason()) {
      log.warn("This node was downed by the cluster (crash detection or split brain resolver); exiting with {} so "
          + "that its supervisor restarts it", EXIT_DOWNED);
      return EXIT_DOWNED;
    }
    if (reason == Guardian.CutOff.INSTANCE) {
      log.warn("This node was cut off from the cluster that leads (see the CUT OFF line above); exiting with {} so "
          + "that its supervisor restarts it and it joins the others", EXIT_DOWNED);
      return EXIT_DOWNED;
    }
    if (reason == Guardian.DuplicateNodeId.INSTANCE) {
      return EXIT_CONFIG;
    }
    if (reason == Guardian.JoinTimeout.INSTANCE || reason == CoordinatedShutdown.clusterJoinUnsuccessfulReason()) {
      return EXIT_JOIN_TIMEOUT;
    }
    log.warn("Stopped: {}", reason);
    return 1;
  }

  static String rootMessage(Throwable e) {
    Throwable t = e;
    StringBuilder sb = new StringBuilder(String.valueOf(t.getMessage()));
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
      sb.append(": ").append(t.getMessage());
    }
    return sb.toString().replace('\n', ' ');
  }

}
