package dev.pmmha.runtime.cluster;

import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.function.BiPredicate;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.pattern.Patterns;

/**
 * An ask to something that moves between nodes (the leader singleton, a job's shard), asked again while its
 * answer says it is moving: it did nothing then, so asking again is safe, and a request made during a hand-over
 * waits for the next owner instead of failing. A timeout is never asked again (the request may have been done).
 */
public final class AskAgain {

  /** The pause between two asks. */
  public static final Duration PAUSE = Duration.ofMillis(100);

  private AskAgain() {}

  /**
   * Asks with the time left until {@code timeout} from now, again while {@code moving} says so and at least two
   * pauses are left.
   */
  public static <T> CompletionStage<T> whileMoving(Function<Duration, CompletionStage<T>> ask,
      BiPredicate<T, Throwable> moving, Duration timeout, ActorSystem<?> system) {
    long deadline = System.nanoTime() + timeout.toNanos();
    int attempts = (int) Math.max(1, timeout.toMillis() / PAUSE.toMillis());
    return Patterns.retry(
        () -> ask.apply(Duration.ofNanos(Math.max(1, deadline - System.nanoTime()))),
        (answer, failure) -> moving.test(answer, failure) && deadline - System.nanoTime() >= PAUSE.multipliedBy(2).toNanos(),
        attempts, PAUSE, system);
  }
}
