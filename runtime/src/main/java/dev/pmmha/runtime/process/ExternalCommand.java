package dev.pmmha.runtime.process;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * Runs an external command for pmm-ha, with its output in the log. The command runs under a small {@code sh}
 * watchdog that ends it (SIGTERM, then SIGKILL) if this JVM disappears, so that a leader killed with
 * {@code kill -9} does not leave leader-only work running behind it.
 */
public final class ExternalCommand {

  private static final String WATCHDOG =
      "jvm=$1; grace=$2; shift 2; \"$@\" & child=$!; "
          + "trap 'kill -TERM $child 2>/dev/null' TERM INT; "
          + "while kill -0 $child 2>/dev/null; do "
          + "  if ! kill -0 $jvm 2>/dev/null; then kill -TERM $child 2>/dev/null; sleep $grace; kill -KILL $child 2>/dev/null; fi; "
          + "  sleep 0.5; "
          + "done; wait $child";

  private ExternalCommand() {}

  /** Starts {@code argv} under the watchdog; each output line is logged as {@code [label] line}. */
  public static Process start(List<String> argv, Map<String, String> env, Logger log, String label, Duration killGrace)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c", WATCHDOG, "pmm-ha-watchdog",
        String.valueOf(ProcessHandle.current().pid()), String.valueOf(Math.max(1, killGrace.toSeconds()))));
    cmd.addAll(argv);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().putAll(env);
    Process p = pb.start();
    Thread pump = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          log.info("[{}] {}", label, line);
        }
      } catch (IOException e) {
        // the process is gone
      }
    }, "pmm-ha-output-" + label);
    pump.setDaemon(true);
    pump.start();
    return p;
  }

  /** SIGTERM to the command, then SIGKILL to it and everything it started once {@code grace} has passed. */
  public static void terminate(Process p, Duration grace) throws InterruptedException {
    if (!p.isAlive()) {
      return;
    }
    List<ProcessHandle> tree = p.descendants().toList();
    p.destroy();
    if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
      tree = new ArrayList<>(tree);
      tree.addAll(p.descendants().toList());
      tree.forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      p.waitFor(5, TimeUnit.SECONDS);
    } else {
      tree.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
    }
  }

  /** Runs a command to completion within {@code timeout}; returns its exit code (-1 on timeout). */
  public static int run(List<String> argv, Map<String, String> env, Logger log, String label, Duration timeout)
      throws IOException, InterruptedException {
    Process p = start(argv, env, log, label, Duration.ofSeconds(2));
    if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      log.error("[{}] did not finish within {}; killing it", label, timeout);
      terminate(p, Duration.ofSeconds(2));
      return -1;
    }
    return p.exitValue();
  }
}
