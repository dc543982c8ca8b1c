package dev.pmmha.runtime.jobs;

import dev.pmmha.runtime.jobs.spi.JobAction;
import dev.pmmha.runtime.process.ExternalCommand;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a job's action for one claimed tick: an external command (on a bounded pool of waiting threads, under
 * {@link ExternalCommand}'s watchdog, output logged as {@code [<node> job <id>] line}, environment
 * {@code PMM_HA_JOB_ID}, {@code PMM_HA_JOB_TICK} (the tick in epoch milliseconds), {@code PMM_HA_NODE_ID}) or a
 * built-in {@link JobAction}. Never throws: every failure is an {@link Outcome}.
 */
final class JobRunner implements AutoCloseable {

  /** {@code status}: ok, failed (non-zero exit), timeout, error (could not run); {@code detail} for the log. */
  record Outcome(String status, Integer exitCode, String detail) {}

  private static final Logger log = LoggerFactory.getLogger(Job.class);

  private final String nodeId;
  private final Map<String, JobAction> actions;
  private final ExecutorService commands;

  JobRunner(String nodeId, JobSettings settings) {
    this.nodeId = nodeId;
    this.actions = settings.actions();
    AtomicInteger n = new AtomicInteger();
    ThreadPoolExecutor pool = new ThreadPoolExecutor(settings.maxConcurrentCommands(), settings.maxConcurrentCommands(),
        30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
          Thread t = new Thread(r, "pmm-ha-job-command-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    pool.allowCoreThreadTimeOut(true);
    this.commands = pool;
  }

  CompletionStage<Outcome> run(String jobId, Job.Spec spec, long tickMs, String label) {
    Duration timeout = Duration.ofMillis(spec.timeoutMs());
    if (spec.command() != null) {
      return CompletableFuture.supplyAsync(() -> command(jobId, spec, tickMs, label, timeout), commands);
    }
    JobAction action = actions.get(spec.action());
    if (action == null) {
      return CompletableFuture.completedFuture(new Outcome("error", null,
          "no built-in action named " + spec.action() + " on this node (pmm-ha.jobs.actions)"));
    }
    try {
      return action.run(new JobAction.Context(jobId, Instant.ofEpochMilli(tickMs), nodeId, timeout, log))
          .toCompletableFuture()
          .orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
          .handle((code, failure) -> {
            if (failure == null) {
              return code != null && code == 0 ? new Outcome("ok", 0, null) : new Outcome("failed", code, null);
            }
            Throwable t = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
            return t instanceof TimeoutException
                ? new Outcome("timeout", null, "did not finish within " + timeout.toMillis() + " ms")
                : new Outcome("error", null, JobView.describe(t));
          });
    } catch (RuntimeException e) {
      return CompletableFuture.completedFuture(new Outcome("error", null, JobView.describe(e)));
    }
  }

  private Outcome command(String jobId, Job.Spec spec, long tickMs, String label, Duration timeout) {
    Map<String, String> env = Map.of("PMM_HA_JOB_ID", jobId, "PMM_HA_JOB_TICK", Long.toString(tickMs),
        "PMM_HA_NODE_ID", nodeId);
    Process p;
    try {
      p = ExternalCommand.start(spec.command(), env, log, label, Duration.ofSeconds(2));
    } catch (IOException e) {
      return new Outcome("error", null, "cannot start " + spec.command().get(0) + ": " + e.getMessage());
    }
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        ExternalCommand.terminate(p, Duration.ofSeconds(2));
        return new Outcome("timeout", null, "did not finish within " + timeout.toMillis() + " ms; killed");
      }
      int code = p.exitValue();
      return code == 0 ? new Outcome("ok", 0, null) : new Outcome("failed", code, null);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      return new Outcome("error", null, "interrupted (node shutting down)");
    }
  }

  @Override
  public void close() {
    commands.shutdownNow();
  }
}
