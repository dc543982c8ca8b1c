package dev.pmmha.runtime.shutdown;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Coordinated-shutdown tasks that close blocking resources. */
public final class ShutdownTasks {

  private static final Logger log = LoggerFactory.getLogger(ShutdownTasks.class);

  private ShutdownTasks() {}

  /**
   * Runs a shutdown task's closing on a thread of its own. CoordinatedShutdown calls each task on its own loop and
   * only bounds the future the task returns: a task that blocks before returning one (a close that waits behind a
   * statement hung on a link that drops packets) would stop every later phase, and the node would never terminate
   * (StepAsideIT). The phase's timeout bounds the wait for the returned future instead.
   */
  public static CompletionStage<Done> offTheLoop(String threadName, Runnable close) {
    CompletableFuture<Done> done = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        close.run();
      } catch (RuntimeException e) {
        log.warn("{} failed: {}", threadName, e.toString());
      } finally {
        done.complete(Done.getInstance());
      }
    }, threadName);
    t.setDaemon(true);
    t.start();
    return done;
  }
}
