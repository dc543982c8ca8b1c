package dev.pmmha.runtime;

import dev.pmmha.http.HttpServer;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.http.api.SettingsApi;
import dev.pmmha.http.routes.HaRoutes;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.persistence.fence.FenceNotices;
import dev.pmmha.runtime.cluster.CrashWatch;
import dev.pmmha.runtime.cluster.CutOffWatch;
import dev.pmmha.runtime.cluster.Membership;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.cluster.StoreProbe;
import dev.pmmha.runtime.cluster.Switchover;
import dev.pmmha.runtime.config.ClusterConfig;
import dev.pmmha.runtime.config.NodeSettings;
import dev.pmmha.runtime.config.TlsSettings;
import dev.pmmha.runtime.jobs.JobSettings;
import dev.pmmha.runtime.jobs.Jobs;
import dev.pmmha.runtime.leader.FenceClient;
import dev.pmmha.runtime.leader.FenceWarmer;
import dev.pmmha.runtime.leader.KubernetesLeaderLabel;
import dev.pmmha.runtime.leader.Leader;
import dev.pmmha.runtime.leader.LeaderServices;
import dev.pmmha.runtime.leader.LeaderSettings;
import dev.pmmha.runtime.leader.RoleChangeHook;
import dev.pmmha.runtime.leader.Successor;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import dev.pmmha.runtime.settings.ClusterSettings;
import dev.pmmha.runtime.shutdown.ShutdownTasks;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.SingletonActor;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;

/**
 * Wires one node: membership view, the leader singleton, the HTTP routes, and cluster formation (Management and
 * Cluster Bootstrap with HA on; a self-join with HA off). Exits the node when it cannot join in time.
 */
public final class Guardian {

  /** Coordinated shutdown reason when the node could not join a cluster within {@code join-timeout}. */
  public enum JoinTimeout implements CoordinatedShutdown.Reason {
    INSTANCE
  }

  /** Coordinated shutdown reason when this node is cut off in a minority cluster (see {@link CutOffWatch}). */
  public enum CutOff implements CoordinatedShutdown.Reason {
    INSTANCE
  }

  /** Coordinated shutdown reason when another member already uses this node's id. */
  public enum DuplicateNodeId implements CoordinatedShutdown.Reason {
    INSTANCE
  }

  private enum JoinDeadline {
    INSTANCE
  }

  private Guardian() {}

  public static Behavior<Object> create(
      NodeSettings settings,
      StoreSettings store,
      HttpSettings http,
      TlsSettings tls,
      NodeState node,
      LeaderSettings leaderSettings,
      List<LeaderServices.Entry> services,
      PmmHaNode.Formation formation) {
    return Behaviors.setup(ctx -> {
      var system = ctx.getSystem();
      CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
      shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "pmm-ha-stop-leading", () -> {
        node.shuttingDown();
        return CompletableFuture.completedFuture(Done.getInstance());
      });

      StoreProbe probe = new StoreProbe(store, node, Duration.ofSeconds(1));
      shutdown.addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(), "pmm-ha-store-probe",
          () -> ShutdownTasks.offTheLoop("pmm-ha-close-store-probe", probe::close));

      PmmHaMetrics metrics = new PmmHaMetrics(node);
      metrics.attach(system);
      Fence fenceStore = new Fence(store, leaderSettings.leaseTtl());
      FenceClient fence = new FenceClient(fenceStore);
      LeaderServices leaderServices = new LeaderServices(
          services, leaderSettings.serviceMinBackoff(), leaderSettings.serviceMaxBackoff());
      RoleChangeHook hook = new RoleChangeHook(
          leaderSettings.onRoleChange(), settings.nodeId(), leaderSettings.onRoleChangeTimeout(),
          KubernetesLeaderLabel.create(system.settings().config(), settings));
      // A hand-over names the node its singleton goes to, and the store tells that node when the fence is free: it
      // takes the fence then, before the singleton arrives (PostgreSQL only; dev.pmmha.runtime.leader.Successor).
      org.apache.pekko.cluster.Cluster classicCluster = org.apache.pekko.cluster.Cluster.get(
          org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system));
      // On by default (reference.conf, pmm-ha.leader.take-over-on-notice); off, no release names a next node.
      // H2 has no notices: there every singleton asks for the fence itself, and no release names anyone.
      boolean onNotice = system.settings().config().getBoolean("pmm-ha.leader.take-over-on-notice")
          && store.kind() == StoreSettings.Kind.POSTGRES;
      Successor successor = !onNotice ? Successor.NONE : new Successor(node, fence, leaderSettings, metrics, () ->
          !node.isShuttingDown() && !node.steppingAside()
              // Up, may lead, and the singleton comes here next in this node's own view, whatever the leader guessed
              && dev.pmmha.runtime.cluster.LeaderPlacement.hostsOrIsNext(classicCluster.state().getMembers(),
                  classicCluster.selfMember(), node.currentLeader().map(l -> l.nodeId()).orElse("")));
      java.util.Optional<FenceNotices> notices = onNotice
          ? FenceNotices.start(store, fenceStore, successor) : java.util.Optional.empty();
      // The services are stopped before their threads go: a leader that ends other than by a hand-over asks for the
      // stop without waiting, and closing the threads at once would cancel it. stopAll runs after any stop already
      // asked for, and stops nothing twice; the phase's own timeout bounds the wait.
      shutdown.addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(), "pmm-ha-leader-resources",
          () -> leaderServices.stopAll().handle((v, failure) -> null).thenCompose(v ->
              ShutdownTasks.offTheLoop("pmm-ha-close-leader-resources", () -> {
                notices.ifPresent(FenceNotices::close);
                fence.close();
                leaderServices.close();
                hook.close();
              })));

      ActorRef<Topic.Command<Leader.News>> topic =
          ctx.spawn(Topic.create(Leader.News.class, Leader.TOPIC), "leader-topic");
      if (onNotice) {
        // a leader handing over offers this node the fence first, and gives it straight to the tenure named here
        ctx.spawn(dev.pmmha.runtime.leader.HandOverOffers.create(node.nodeId(), successor, topic),
            "hand-over-offers");
      }
      ActorRef<Leader.Command> leaderProxy = ClusterSingleton.get(system).init(
          SingletonActor.of(
                  Leader.create(new Leader.Deps(
                      node, topic, fence, leaderServices, hook, leaderSettings, metrics, successor)),
                  Leader.SINGLETON_NAME)
              .withStopMessage(Leader.Stop.INSTANCE)
              // a thread of its own: its hand-over and take-over steps do not queue behind other actors' work
              .withProps(org.apache.pekko.actor.typed.DispatcherSelector.fromConfig(Leader.DISPATCHER))
              // never on a node with PMM_HA_NOFAILOVER; its proxy still finds the leader from any node
              .withSettings(ClusterSingletonSettings.create(system).withRole(ClusterConfig.MAY_LEAD_ROLE)));
      ctx.spawn(Membership.create(node, topic, leaderProxy, metrics, leaderSettings.leaseTtl()), "membership");
      ctx.spawn(FenceWarmer.create(fence, () -> node.ownEpoch() > 0), "fence-warmer");
      CrashWatch.Settings crashWatch = CrashWatch.Settings.from(system.settings().config());
      if (crashWatch.enabled()) {
        ctx.spawn(CrashWatch.create(crashWatch, fence::current,
            () -> node.currentLeader().map(dev.pmmha.http.api.LeaderView.LeaderInfo::nodeId).orElse("")),
            "crash-watch");
      }
      hook.roleChanged("follower", 0); // before any join: the hook sees follower 0 before leader
      // Formation first: the peers see this node's contact point (and the bootstrap's stable margin starts)
      // while the rest of the node starts, instead of after it.
      Cluster cluster = Cluster.get(system);
      if (formation == PmmHaNode.Formation.MANUAL) {
        ctx.getLog().info("Waiting to be joined to a cluster");
      } else if (settings.haEnabled()) {
        PekkoManagement.get(system).start();
        ClusterBootstrap.get(system).start();
        ctx.getLog().info("Forming or joining the cluster through {} discovery; needs {} of {} peers",
            settings.discovery(), settings.requiredContactPoints(), settings.expectedNodes());
      } else {
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        ctx.getLog().info("HA is off (PMM_HA_ENABLE): single node, always leader");
      }
      // Once this node is Up: the join deadline below is met, and the leader's paths are warmed, 1 s later rather
      // than during the start, which it would slow down (cold starts are CPU-bound: bench/perf startup). A node
      // that leads first recovers for real anyway.
      java.util.concurrent.atomic.AtomicBoolean wasUp = new java.util.concurrent.atomic.AtomicBoolean();
      org.apache.pekko.cluster.Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system))
          .registerOnMemberUp(() -> {
            wasUp.set(true);
            system.scheduler().scheduleOnce(Duration.ofSeconds(1),
                () -> Warmup.run(system, fence, settings.nodeId()), system.executionContext());
          });

      SettingsApi settingsApi = new ClusterSettings(node, leaderProxy, system, leaderSettings.writeTimeout(), metrics);
      if (!http.auth().enabled()) {
        ctx.getLog().warn("Settings writes and /v1/ha/leave are not authenticated: set PMM_HA_ADMIN_PASSWORD or "
            + "PMM_HA_API_TOKEN");
      }
      Switchover switchover = new Switchover(system, node, topic);
      dev.pmmha.http.api.NodeControl control = new dev.pmmha.http.api.NodeControl() {
        @Override
        public java.util.concurrent.CompletionStage<Void> leave() {
          return shutdown.runAll(CoordinatedShutdown.clusterLeavingReason()).thenApply(done -> (Void) null);
        }

        @Override
        public java.util.concurrent.CompletionStage<Switched> switchover(java.util.Optional<String> candidate) {
          return switchover.run(candidate);
        }
      };
      JobSettings jobSettings = JobSettings.create(system.settings().config());
      dev.pmmha.http.api.JobsApi jobs = jobSettings.enabled()
          ? Jobs.start(system, jobSettings, store, node, metrics) : Jobs.disabled();
      var route = new HaRoutes(node, node, settingsApi, metrics, http.auth(), control).withJobs(jobs);
      if (tls.enabled()) {
        HttpServer.startHttps(system, http.bindAddress(), tls.httpsPort(), tls.sslContext(), route, node::portMayClose);
      }
      HttpServer.start(system, http, route, node::portMayClose)
          .exceptionally(failure -> {
            shutdown.run(CoordinatedShutdown.unknownReason());
            return null;
          });
      if (http.probeEnabled()) {
        HttpServer.startProbe(system, http, route, node::portMayClose)
            .exceptionally(failure -> {
              shutdown.run(CoordinatedShutdown.unknownReason());
              return null;
            });
      }

      return Behaviors.withTimers(timers -> {
        timers.startSingleTimer(JoinDeadline.INSTANCE, settings.joinTimeout());
        return Behaviors.receive(Object.class)
            .onMessageEquals(JoinDeadline.INSTANCE, () -> {
              MemberStatus st = cluster.selfMember().status();
              if (wasUp.get() || st == MemberStatus.up() || st == MemberStatus.weaklyUp()) {
                return Behaviors.same(); // joined (and may be leaving by now): nothing to do
              }
              ctx.getLog().error(
                  "Could not join a cluster within {} (PMM_HA_JOIN_TIMEOUT): a majority of PMM_HA_PEERS must be "
                      + "reachable on PMM_HA_RAFT_PORT {} and PMM_HA_GOSSIP_PORT {}; exiting so the supervisor restarts this node",
                  settings.joinTimeout(), settings.raftPort(), settings.gossipPort());
              shutdown.run(JoinTimeout.INSTANCE);
              return Behaviors.same();
            })
            .build();
      });
    });
  }
}
