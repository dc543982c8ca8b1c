package dev.pmmha.runtime.jobs;

import dev.pmmha.runtime.jobs.spi.JobAction;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** The built-in {@code noop} job action: succeeds at once. For trying jobs out and for bench/jobs. */
public final class NoopJobAction implements JobAction {

  @Override
  public CompletionStage<Integer> run(Context context) {
    return CompletableFuture.completedFuture(0);
  }
}
