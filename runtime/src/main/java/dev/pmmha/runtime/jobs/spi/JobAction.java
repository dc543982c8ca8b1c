package dev.pmmha.runtime.jobs.spi;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;

/**
 * A built-in job action in Java, named in a job's definition ({@code "action":"<name>"}) instead of a command.
 * {@link #run} is called once per claimed tick, on the node that runs the job, never twice for the same tick; it
 * must not block the calling thread (return a stage completed by other threads) and should end within
 * {@link Context#timeout()}: the run is recorded as {@code timeout} after that, and the stage is then ignored.
 *
 * <p>Register implementations under {@code pmm-ha.jobs.actions} as {@code name = "<class>"}; they need a public
 * constructor taking a {@code com.typesafe.config.Config} (the whole configuration) or none.
 */
public interface JobAction {

  /** One run: which job, which tick (its scheduled time), on which node, with which time limit. */
  record Context(String jobId, Instant tick, String nodeId, Duration timeout, Logger log) {}

  /** Completes with the exit code: 0 is success, anything else a failure. */
  CompletionStage<Integer> run(Context context);
}
