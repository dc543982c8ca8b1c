package dev.pmmha.http.api;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionStage;

/**
 * The jobs as the routes need them: definitions written through the job's sharded entity (on whichever node runs
 * it), the list and the runs read from the store.
 */
public interface JobsApi {

  /**
   * A validated job definition: run {@code command} (an argv list) or the built-in {@code action} every
   * {@code interval}, or at the times of the cron schedule {@code cron} in {@code timezone} (exactly one of
   * {@code interval} and {@code cron} is set; {@code timezone} only with {@code cron}), each run ended after
   * {@code timeout}; {@code catchUp} runs one missed tick after a move.
   */
  record Definition(Duration interval, String cron, String timezone, List<String> command, String action,
      Duration timeout, boolean catchUp) {

    /** A job run every {@code interval}. */
    public static Definition every(Duration interval, List<String> command, String action, Duration timeout,
        boolean catchUp) {
      return new Definition(interval, null, null, command, action, timeout, catchUp);
    }
  }

  /** A listed job: the node that runs it now (empty before it first started) and its latest claimed tick. */
  record JobInfo(String id, Definition definition, String node, Instant nodeSince, Optional<Run> lastRun) {}

  /** One claimed tick: {@code status} is running, ok, failed, timeout, error or lost. */
  record Run(Instant tick, String node, Instant start, Instant end, Integer exitCode, String status) {}

  /** The built-in action names a definition may use. */
  Set<String> actions();

  /**
   * A cron schedule as the runtime reads it: the expression and zone as stored, and {@code gap}, the time between
   * its next two ticks (a cron job's timeout defaults to it).
   */
  record Schedule(String cron, String timezone, Duration gap) {}

  /**
   * Checks a five-field cron expression in a zone (an IANA name such as {@code Europe/Berlin}).
   *
   * @throws InvalidScheduleException with the message for the client when the expression or zone is not valid,
   *     or the schedule never fires
   */
  Schedule schedule(String cron, String timezone);

  /** A cron expression or zone that cannot be used; the message names the field and what it accepts. */
  final class InvalidScheduleException extends IllegalArgumentException {
    public InvalidScheduleException(String message) {
      super(message);
    }
  }

  /** Creates or replaces the job; completes once the definition is persisted. */
  CompletionStage<JobInfo> put(String id, Definition definition);

  /** Stops and removes the job; false when there was no such job. */
  CompletionStage<Boolean> delete(String id);

  CompletionStage<List<JobInfo>> list();

  /** The newest runs first; empty when there is no such job. */
  CompletionStage<Optional<List<Run>>> runs(String id, int limit);

  /** The job's node or the store did not answer in time: retry later. */
  final class UnavailableException extends RuntimeException {
    public UnavailableException(String message) {
      super(message);
    }
  }

  /** No jobs on this node (tests of the other routes). */
  JobsApi NONE = new JobsApi() {
    @Override
    public Set<String> actions() {
      return Set.of();
    }

    @Override
    public Schedule schedule(String cron, String timezone) {
      throw new UnavailableException("jobs are not enabled");
    }

    @Override
    public CompletionStage<JobInfo> put(String id, Definition definition) {
      return java.util.concurrent.CompletableFuture.failedFuture(new UnavailableException("jobs are not enabled"));
    }

    @Override
    public CompletionStage<Boolean> delete(String id) {
      return java.util.concurrent.CompletableFuture.failedFuture(new UnavailableException("jobs are not enabled"));
    }

    @Override
    public CompletionStage<List<JobInfo>> list() {
      return java.util.concurrent.CompletableFuture.completedFuture(List.of());
    }

    @Override
    public CompletionStage<Optional<List<Run>>> runs(String id, int limit) {
      return java.util.concurrent.CompletableFuture.completedFuture(Optional.empty());
    }
  };
}
