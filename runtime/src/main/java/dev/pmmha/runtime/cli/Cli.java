package dev.pmmha.runtime.cli;

import java.io.PrintStream;
import java.util.Map;

/** The subcommands of {@code pmm-ha.jar} other than running a node. */
public final class Cli {

  public static final String HELP = """
      usage: java -jar pmm-ha.jar [COMMAND] [options]
        node              run a pmm-ha node, configured by environment (the default)
        status            print the cluster table as a node sees it
        switchover        move leadership gracefully to another node (--to NODE: that one)
        haproxy-config    print or write the HAProxy configuration for the peers
        grafana-env       print Grafana's alerting HA settings for this node
        cds-training      the training run of the start-up archive (deploy/docker/make-cds-archive.sh runs it)
        --help            this help; COMMAND --help for a command's options
      See README.md for the variables and the endpoints.
      """;

  private Cli() {}

  /** Runs a subcommand; returns its exit code: 0 done, 1 failed, 2 bad usage. */
  public static int run(String[] argv, Map<String, String> env, PrintStream out, PrintStream err) {
    String command = argv[0];
    try {
      return switch (command) {
        case "status" -> Status.run(argv, env, out);
        case "switchover" -> SwitchoverCommand.run(argv, env, out);
        case "haproxy-config" -> HaproxyConfig.run(argv, out);
        case "grafana-env" -> GrafanaEnv.run(argv, env, out);
        case "cds-training" -> {
          if (argv.length > 1) {
            throw new Args.UsageException("takes no options; run it through deploy/docker/make-cds-archive.sh");
          }
          yield CdsTraining.run(out, err);
        }
        default -> throw new Args.UsageException("unknown command \"" + command + "\"");
      };
    } catch (Args.UsageException e) {
      err.println("pmm-ha " + command + ": " + e.getMessage());
      err.println("(see java -jar pmm-ha.jar " + (command.startsWith("-") ? "" : command + " ") + "--help)");
      return 2;
    } catch (NodeApi.CliFailure e) {
      err.println("pmm-ha " + command + ": " + e.getMessage());
      return 1;
    } catch (java.io.IOException e) {
      err.println("pmm-ha " + command + ": " + e.getMessage());
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }
}
