package dev.pmmha.runtime;

import dev.pmmha.persistence.LeaderState;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.stream.javadsl.Sink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Readies every node to lead before it has to: the fence connection, the journal's pool and the read and
 * deserialization path of the leader's events are used once at start. Without this the first leadership of a
 * node pays for class loading and pool start-up (about 2 s on two cores) in the middle of a failover.
 */
final class Warmup {

  private static final Logger log = LoggerFactory.getLogger(Warmup.class);

  private Warmup() {}

  static void run(ActorSystem<?> system, FenceClient fence) {
    long t0 = System.nanoTime();
    CompletableFuture<?> fenceRead = fence.current().toCompletableFuture()
        .thenAccept(s -> log.info("Fence: epoch {} held by {} ({})", s.epoch(), s.holder().isEmpty() ? "nobody" : s.holder(),
            s.free() ? "free" : s.remainingMillis() + " ms left"));
    var journal = PersistenceQuery.get(system)
        .getReadJournalFor(org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal.class, JdbcReadJournal.Identifier());
    CompletableFuture<?> replay = journal.currentEventsByPersistenceId(LeaderState.PERSISTENCE_ID, 0, 50)
        .runWith(Sink.ignore(), system).toCompletableFuture();
    CompletableFuture.allOf(fenceRead, replay)
        .orTimeout(Duration.ofSeconds(30).toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)
        .whenComplete((ok, failure) -> {
          if (failure != null) {
            log.warn("Warm-up incomplete (the first leadership of this node may be slower): {}",
                FenceClient.firstLine(failure));
          } else {
            log.info("Ready to lead: store paths warmed in {} ms", (System.nanoTime() - t0) / 1_000_000);
          }
        });
  }
}
