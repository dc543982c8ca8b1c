package dev.pmmha.persistence.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.TestStores;
import dev.pmmha.persistence.schema.Schema;
import dev.pmmha.testkit.WithPostgres;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The tick claims and the job registry on both stores: a tick is claimed once, whoever asks and however often. */
@Tag("integration")
class JobStoreIT extends WithPostgres {

  static Stream<String> stores() {
    return TestStores.kinds();
  }

  static StoreSettings store(String kind) {
    StoreSettings s = TestStores.fresh(kind, pg);
    Schema.ensure(s); // idempotent: a second node starting applies the schema again
    return s;
  }

  @ParameterizedTest
  @MethodSource("stores")
  void aTickIsClaimedOnceAndOnlyItsClaimantRecordsItsEnd(String kind) throws Exception {
    try (JobStore a = new JobStore(store(kind), 2)) {
      assertEquals(JobStore.Claim.CLAIMED, a.claim("j", 1000, "n1", "inc-1", 1001));
      assertEquals(JobStore.Claim.TAKEN, a.claim("j", 1000, "n2", "inc-2", 1002), "another node");
      assertEquals(JobStore.Claim.TAKEN, a.claim("j", 1000, "n1", "inc-1", 1003), "the same incarnation again");
      assertEquals(JobStore.Claim.CLAIMED, a.claim("j", 2000, "n2", "inc-2", 2001), "the next tick is free");
      assertEquals(JobStore.Claim.CLAIMED, a.claim("k", 1000, "n2", "inc-3", 1001), "the same tick of another job");

      assertFalse(a.finish("j", 1000, "inc-2", 1500, 0, "ok"), "only the claimant records the end");
      assertTrue(a.finish("j", 1000, "inc-1", 1500, 3, "failed"));
      assertFalse(a.finish("j", 1000, "inc-1", 1600, 0, "ok"), "an end is recorded once");
      List<JobStore.Run> runs = a.runs("j", 10);
      assertEquals(List.of(2000L, 1000L), runs.stream().map(JobStore.Run::tickMs).toList(), "newest first");
      JobStore.Run r = runs.get(1);
      assertEquals("n1", r.node());
      assertEquals(1001L, r.startedMs());
      assertEquals(1500L, r.endedMs());
      assertEquals(3, r.exitCode());
      assertEquals("failed", r.status());
      assertEquals(null, runs.get(0).endedMs());
      assertEquals("running", runs.get(0).status());
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void concurrentClaimsOfOneTickFromManyConnectionsLetExactlyOneRun(String kind) throws Exception {
    StoreSettings s = store(kind);
    int claimants = 6;
    List<JobStore> stores = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(claimants);
    try {
      for (int i = 0; i < claimants; i++) {
        stores.add(new JobStore(s, 1));
      }
      for (long tick = 0; tick < 20; tick++) {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<JobStore.Claim>> results = new ArrayList<>();
        for (int i = 0; i < claimants; i++) {
          JobStore st = stores.get(i);
          long t = tick;
          String inc = "inc-" + i;
          Callable<JobStore.Claim> c = () -> {
            go.await();
            return st.async(x -> x.claim("race", t, "n" + inc, inc, t)).get();
          };
          results.add(pool.submit(c));
        }
        go.countDown();
        int won = 0;
        for (Future<JobStore.Claim> f : results) {
          if (f.get() == JobStore.Claim.CLAIMED) {
            won++;
          }
        }
        assertEquals(1, won, "tick " + tick + ": exactly one claimant");
      }
      assertEquals(20, stores.get(0).runs("race", 100).size());
    } finally {
      pool.shutdownNow();
      stores.forEach(JobStore::close);
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void unfinishedClaimsOfAnEarlierIncarnationAreMarkedLostNotRunAgain(String kind) throws Exception {
    try (JobStore a = new JobStore(store(kind), 1)) {
      int shard = a.register("j", 3, 1);
      a.claim("j", 1000, "n1", "old", 1001);
      a.finish("j", 1000, "old", 1100, 0, "ok");
      a.claim("j", 2000, "n1", "old", 2001); // n1 dies while this runs
      JobStore.TakeOver t = a.start(new JobStore.Start("j", shard, "{\"interval\":\"1s\"}", "n2", "new", 2400, 2500)).get();
      assertEquals(List.of(2000L), t.lost());
      assertEquals(2000L, t.lastRun().orElseThrow().tickMs());
      assertEquals("lost", t.lastRun().orElseThrow().status());
      assertEquals("n2", a.find("j").orElseThrow().node(), "the registry names the node that runs it now");
      assertEquals(2400L, a.find("j").orElseThrow().nodeSinceMs(), "since the job reached the node");
      assertEquals(2500L, t.lastRun().orElseThrow().endedMs(), "a lost claim ends when it is found");
      Map<Long, String> status = new HashMap<>();
      a.runs("j", 10).forEach(r -> status.put(r.tickMs(), r.status()));
      assertEquals(Map.of(1000L, "ok", 2000L, "lost"), status);
      assertFalse(a.finish("j", 2000, "old", 4000, 0, "ok"), "a run cut off by a partition cannot overwrite lost");
      assertEquals(JobStore.Claim.TAKEN, a.claim("j", 2000, "n2", "new", 3600), "a lost tick is never claimed again");

      a.claim("j", 3000, "n2", "new", 3001); // the new incarnation's own run in progress is not lost
      assertEquals(List.of(), a.start(new JobStore.Start("j", shard, "{}", "n2", "new", 3500, 3500)).get().lost());
      a.claim("j", 4000, "n2", "new", 4001); // n2 dies during this run; a third incarnation takes over
      t = a.start(new JobStore.Start("j", shard, "{}", "n3", "third", 4500, 4500)).get();
      assertEquals(List.of(3000L, 4000L), t.lost().stream().sorted().toList());
      assertEquals(4000L, t.lastRun().orElseThrow().tickMs());
      assertEquals("lost", t.lastRun().orElseThrow().status());
      assertEquals("lost", a.runs("j", 1).get(0).status());
      JobStore.TakeOver again = a.start(new JobStore.Start("j", shard, "{}", "n1", "fourth", 4600, 4600)).get();
      assertEquals(List.of(), again.lost(), "nothing left to lose");
      assertEquals(4000L, again.lastRun().orElseThrow().tickMs());

      // a job whose registry row is gone gets it back
      a.remove("j");
      a.start(new JobStore.Start("j", shard, "{\"interval\":\"2s\"}", "n1", "fifth", 4700, 4700)).get();
      assertEquals("{\"interval\":\"2s\"}", a.find("j").orElseThrow().spec());
      assertEquals(shard, a.find("j").orElseThrow().shard());
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void claimsAskedTogetherAreEachAnsweredEvenWhenSomeTicksAreTaken(String kind) throws Exception {
    StoreSettings shared = store(kind);
    try (JobStore a = new JobStore(shared, 2); JobStore b = new JobStore(shared, 1)) {
      for (int i = 0; i < 300; i += 7) {
        b.claim("job-" + i, 1000, "n2", "other", 999); // taken before, by another node
      }
      List<java.util.concurrent.CompletableFuture<JobStore.Claim>> answers = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        answers.add(a.claimLater(new JobStore.ClaimRequest("job-" + i, 1000, "n1", "mine", 1001)));
      }
      // the same tick asked for twice at once: once claimed, once taken
      var first = a.claimLater(new JobStore.ClaimRequest("dup", 1000, "n1", "mine", 1001));
      var second = a.claimLater(new JobStore.ClaimRequest("dup", 1000, "n1", "mine-too", 1002));
      for (int i = 0; i < 300; i++) {
        assertEquals(i % 7 == 0 ? JobStore.Claim.TAKEN : JobStore.Claim.CLAIMED,
            answers.get(i).get(30, java.util.concurrent.TimeUnit.SECONDS), "job-" + i);
        assertEquals(i % 7 == 0 ? "n2" : "n1", a.runs("job-" + i, 1).get(0).node(), "job-" + i);
      }
      assertEquals(java.util.Set.of(JobStore.Claim.CLAIMED, JobStore.Claim.TAKEN),
          java.util.Set.of(first.get(30, java.util.concurrent.TimeUnit.SECONDS),
              second.get(30, java.util.concurrent.TimeUnit.SECONDS)));
      assertEquals(1, a.runs("dup", 10).size());

      // nothing taken: the claims go in shared transactions, every one claimed and written
      List<java.util.concurrent.CompletableFuture<JobStore.Claim>> next = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        next.add(a.claimLater(new JobStore.ClaimRequest("job-" + i, 2000, "n1", "mine", 2001)));
      }
      for (int i = 0; i < 300; i++) {
        assertEquals(JobStore.Claim.CLAIMED, next.get(i).get(30, java.util.concurrent.TimeUnit.SECONDS), "job-" + i);
        assertEquals(2000L, a.runs("job-" + i, 1).get(0).tickMs(), "job-" + i);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void manyStartsAndEndsAtOnceEachGetTheirOwnAnswer(String kind) throws Exception {
    int jobs = 1_200; // more than one batch
    try (JobStore a = new JobStore(store(kind), 2)) {
      for (int i = 0; i < jobs; i++) {
        String id = "job-" + i;
        a.saveDefinition(id, a.register(id, 30, 1), "{}", "n1", 1);
        a.claim(id, 1000, "n1", "old-" + i, 1001);
        if (i % 2 == 0) {
          a.finish(id, 1000, "old-" + i, 1100, 0, "ok"); // even jobs ended; odd ones were running when n1 died
        }
      }
      List<java.util.concurrent.CompletableFuture<JobStore.TakeOver>> started = new ArrayList<>();
      for (int i = 0; i < jobs; i++) {
        started.add(a.start(new JobStore.Start("job-" + i, 0, "{\"n\":" + i + "}", "n2", "new-" + i, 2000, 2000)));
      }
      for (int i = 0; i < jobs; i++) {
        JobStore.TakeOver t = started.get(i).get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(i % 2 == 0 ? List.of() : List.of(1000L), t.lost(), "job-" + i);
        assertEquals("job-" + i, t.lastRun().orElseThrow().jobId());
        assertEquals(i % 2 == 0 ? "ok" : "lost", t.lastRun().orElseThrow().status(), "job-" + i);
      }
      for (JobStore.Registered r : a.list()) {
        assertEquals("n2", r.node(), r.jobId());
        assertEquals("{\"n\":" + r.jobId().substring(4) + "}", r.spec());
      }
      for (int i = 0; i < jobs; i++) {
        a.claim("job-" + i, 2000, "n2", "new-" + i, 2001);
      }
      List<java.util.concurrent.CompletableFuture<Boolean>> ended = new ArrayList<>();
      for (int i = 0; i < jobs; i++) {
        // every third asks with another incarnation's name: only the claimant records an end
        String inc = i % 3 == 0 ? "someone-else" : "new-" + i;
        ended.add(a.finishLater(new JobStore.Finish("job-" + i, 2000, inc, 2100, i % 256, "ok")));
      }
      for (int i = 0; i < jobs; i++) {
        assertEquals(i % 3 != 0, ended.get(i).get(30, java.util.concurrent.TimeUnit.SECONDS), "job-" + i);
        JobStore.Run r = a.runs("job-" + i, 1).get(0);
        assertEquals(i % 3 == 0 ? "running" : "ok", r.status(), "job-" + i);
        assertEquals(i % 3 == 0 ? null : (Integer) (i % 256), r.exitCode(), "job-" + i);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void newJobsGoToTheLeastUsedShardAndKeepTheirShard(String kind) throws Exception {
    try (JobStore a = new JobStore(store(kind), 1)) {
      int shards = 7;
      Map<Integer, Integer> perShard = new HashMap<>();
      for (int i = 0; i < 70; i++) {
        int s = a.register("job-" + i, shards, 1);
        a.saveDefinition("job-" + i, s, "{}", null, 1);
        perShard.merge(s, 1, Integer::sum);
      }
      assertEquals(shards, perShard.size());
      perShard.values().forEach(n -> assertEquals(10, n, "even spread " + perShard));
      int before = a.find("job-5").orElseThrow().shard();
      assertEquals(before, a.register("job-5", shards, 2), "a job keeps its shard when it is replaced");
      assertTrue(a.remove("job-5"));
      assertFalse(a.remove("job-5"));
      assertEquals(before, a.register("job-new", shards, 3), "the hole left by a removed job is filled first");
    }
  }

  @ParameterizedTest
  @MethodSource("stores")
  void theListHasEveryDefinedJobWithItsNodeAndLatestTick(String kind) throws Exception {
    try (JobStore a = new JobStore(store(kind), 1)) {
      a.register("half", 3, 1); // registered, but its definition never reached the store: not listed
      a.saveDefinition("b", a.register("b", 3, 1), "{\"interval\":\"10s\"}", "n2", 5);
      a.saveDefinition("a", a.register("a", 3, 1), "{\"interval\":\"20s\"}", null, 6);
      a.claim("b", 1000, "n2", "i", 1001);
      a.finish("b", 1000, "i", 1200, 0, "ok");
      a.claim("b", 2000, "n2", "i", 2001);
      List<JobStore.Registered> l = a.list();
      assertEquals(List.of("a", "b"), l.stream().map(JobStore.Registered::jobId).toList());
      assertTrue(l.get(0).lastRun().isEmpty());
      assertEquals(null, l.get(0).node());
      assertEquals("n2", l.get(1).node());
      assertEquals(5L, l.get(1).nodeSinceMs());
      assertEquals(2000L, l.get(1).lastRun().orElseThrow().tickMs());
      assertEquals(Map.of("a", a.find("a").orElseThrow().shard(), "b", a.find("b").orElseThrow().shard()), a.ids());
      a.saveDefinition("b", 0, "{\"interval\":\"10s\"}", "n3", 9);
      assertEquals("n3", a.find("b").orElseThrow().node(), "the node that runs it now");
      assertEquals(1, a.prune("b", 2000), "pruning keeps the claim in progress and newer ones");
      assertEquals(List.of(2000L), a.runs("b", 10).stream().map(JobStore.Run::tickMs).toList());
    }
  }

  @Test
  void aStoreOutageFailsEachOperationWithOneLineThatNamesTheStoreAndTheStoreWorksAgainWhenItIsBack() throws Exception {
    StoreSettings s = store("postgres");
    try (JobStore a = new JobStore(s, 1)) {
      assertEquals(JobStore.Claim.CLAIMED, a.async(x -> x.claim("j", 1000, "n1", "i", 1001)).get(10, TimeUnit.SECONDS));
      try {
        pg.stopServer();
      } catch (UnsupportedOperationException e) {
        Assumptions.abort("an external PostgreSQL is not stopped by tests");
      }
      try {
        // the pooled connections still look open: the first operations meet them broken and the pool evicts them
        String message = "";
        for (int attempt = 0; attempt < 5 && !message.startsWith("the job store cannot reach"); attempt++) {
          ExecutionException e = assertThrows(ExecutionException.class,
              () -> a.async(x -> x.claim("j", 2000, "n1", "i", 2001)).get(30, TimeUnit.SECONDS));
          assertInstanceOf(java.sql.SQLException.class, e.getCause());
          message = e.getCause().getMessage();
          assertEquals(1, message.lines().count(), message);
        }
        assertTrue(message.startsWith("the job store cannot reach " + s.description() + ": "), message);
      } finally {
        pg.startServer();
      }
      assertEquals(JobStore.Claim.CLAIMED, a.async(x -> x.claim("j", 2000, "n1", "i", 2001)).get(30, TimeUnit.SECONDS),
          "the pool connects again once the store is back");
      assertEquals(JobStore.Claim.TAKEN, a.claim("j", 1000, "n1", "i", 1002), "claims made before the outage stay");
    }
  }
}
