package dev.pmmha.runtime.cluster;

import dev.pmmha.http.api.LeaderView.LeaderInfo;
import dev.pmmha.http.api.NodeControl.SwitchoverRefused;
import dev.pmmha.http.api.NodeControl.SwitchoverUnfinished;
import dev.pmmha.http.api.NodeControl.Switched;
import dev.pmmha.runtime.config.ClusterConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.Address;
import dev.pmmha.runtime.leader.Leader;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Leave;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A switchover (Patroni's word): leadership moves gracefully to a chosen member, or to the one next in line.
 *
 * <p>The leader singleton runs on the oldest member that may lead, so a candidate leads once every member that may
 * lead and is older than it has left: those leave first, then the leader, whose graceful hand-over (the same as on
 * SIGTERM: its 503 held until the next leader serves) moves the singleton to the candidate. A member that leaves
 * stops its process, and its supervisor (Docker's restart policy, Kubernetes, systemd) starts it again: it rejoins
 * as the youngest member, a follower. The fence keeps every moment to one leader.
 */
public final class Switchover {

  private static final Logger log = LoggerFactory.getLogger(Switchover.class);
  static final Duration STEP_BACK_TIMEOUT = Duration.ofSeconds(10);
  static final Duration NEXT_LEADER_TIMEOUT = Duration.ofSeconds(15);

  private final ActorSystem<?> system;
  private final NodeState node;
  private final ActorRef<Topic.Command<Leader.News>> topic;
  private final AtomicBoolean running = new AtomicBoolean();

  public Switchover(ActorSystem<?> system, NodeState node, ActorRef<Topic.Command<Leader.News>> topic) {
    this.system = system;
    this.node = node;
    this.topic = topic;
  }

  /** Who must leave, and in which order, for {@code target} to lead after {@code leader}. */
  record Plan(Member leader, Member target, List<Member> olderFirst) {}

  public CompletionStage<Switched> run(Optional<String> candidate) {
    Plan plan;
    try {
      plan = plan(candidate);
    } catch (SwitchoverRefused e) {
      return CompletableFuture.failedFuture(e);
    }
    if (!running.compareAndSet(false, true)) {
      return CompletableFuture.failedFuture(new SwitchoverRefused("a switchover is already running"));
    }
    String from = Membership.nodeName(plan.leader());
    String to = Membership.nodeName(plan.target());
    long fromEpoch = node.currentLeader().map(LeaderInfo::epoch).orElse(0L);
    log.info("SWITCHOVER from {} (epoch {}) to {}{}", from, fromEpoch, to, plan.olderFirst().isEmpty() ? ""
        : "; stepping back first: " + plan.olderFirst().stream().map(Membership::nodeName).toList());
    // for the leader's history: why it hands over (the topic's message comes before the leave's gossip)
    topic.tell(Topic.publish(new Leader.SwitchoverAsked(from, to, node.nodeId())));
    Cluster cluster = Cluster.get(system);
    plan.olderFirst().forEach(m -> cluster.manager().tell(new Leave(m.address())));
    Set<Address> leaving = plan.olderFirst().stream().map(Member::address).collect(Collectors.toSet());
    return waitUntil(() -> stillInService(leaving).isEmpty(), STEP_BACK_TIMEOUT)
        .thenCompose(left -> {
          if (!left) {
            throw new SwitchoverUnfinished("the members older than " + to + " did not leave within "
                + STEP_BACK_TIMEOUT.toSeconds() + " s: " + stillInService(leaving) + "; the leader stays " + from);
          }
          cluster.manager().tell(new Leave(plan.leader().address()));
          return waitUntil(() -> node.highestEpochSeen() > fromEpoch, NEXT_LEADER_TIMEOUT);
        })
        .thenApply(seen -> {
          if (!seen) {
            throw new SwitchoverUnfinished(from + " is handing over, but no next leader was seen within "
                + NEXT_LEADER_TIMEOUT.toSeconds() + " s; check /v1/ha/leader");
          }
          long epoch = node.highestEpochSeen();
          log.info("SWITCHOVER done: {} leads with epoch {} (after {}, epoch {})", to, epoch, from, fromEpoch);
          return new Switched(from, to, epoch);
        })
        .whenComplete((done, failure) -> running.set(false));
  }

  /** Checks the request against the members as this node sees them now; refuses with the reason. */
  Plan plan(Optional<String> candidate) {
    if (!node.haEnabled()) {
      throw new SwitchoverRefused("HA is off (PMM_HA_ENABLE): a single node always leads");
    }
    LeaderInfo leader = node.currentLeader()
        .orElseThrow(() -> new SwitchoverRefused("no leader is known to this node yet; try again"));
    var state = Cluster.get(system).state();
    Set<Address> unreachable = StreamSupport.stream(state.getUnreachable().spliterator(), false)
        .map(Member::address).collect(Collectors.toSet());
    List<Member> members = StreamSupport.stream(state.getMembers().spliterator(), false).toList();
    for (Member m : members) {
      if (m.status() == MemberStatus.leaving() || m.status() == MemberStatus.exiting()) {
        throw new SwitchoverRefused(Membership.nodeName(m) + " is leaving the cluster (a switchover or a stop is "
            + "under way); try again once it has left");
      }
    }
    Member leaderMember = members.stream()
        .filter(m -> Membership.nodeName(m).equals(leader.nodeId()) && m.status() == MemberStatus.up())
        .findFirst()
        .orElseThrow(() -> new SwitchoverRefused("the leader " + leader.nodeId() + " is not an Up member"));
    List<Member> mayLead = members.stream()
        .filter(m -> m.status() == MemberStatus.up() && !unreachable.contains(m.address())
            && m.hasRole(ClusterConfig.MAY_LEAD_ROLE) && !m.equals(leaderMember))
        .sorted((a, b) -> a.isOlderThan(b) ? -1 : b.isOlderThan(a) ? 1 : 0)
        .toList();
    Member target;
    List<Member> older = new ArrayList<>();
    if (candidate.isEmpty()) {
      if (mayLead.isEmpty()) {
        throw new SwitchoverRefused("no other Up member may lead");
      }
      target = mayLead.get(0); // where the singleton goes when the leader leaves
    } else {
      String name = candidate.get();
      Member c = members.stream().filter(m -> Membership.nodeName(m).equals(name)).findFirst()
          .filter(m -> m.status() == MemberStatus.up())
          .orElseThrow(() -> new SwitchoverRefused(name + " is not an Up member of the cluster"));
      if (c.equals(leaderMember)) {
        throw new SwitchoverRefused(name + " is the leader already");
      }
      if (!c.hasRole(ClusterConfig.MAY_LEAD_ROLE)) {
        throw new SwitchoverRefused(name + " may not lead: it runs with PMM_HA_NOFAILOVER=true");
      }
      if (unreachable.contains(c.address())) {
        throw new SwitchoverRefused(name + " is unreachable from " + node.nodeId());
      }
      target = c;
      for (Member m : mayLead) {
        if (m.isOlderThan(c)) {
          older.add(m);
        }
      }
    }
    Address self = Cluster.get(system).selfMember().address();
    if (older.stream().anyMatch(m -> m.address().equals(self))) {
      throw new SwitchoverRefused(node.nodeId() + " must step back for " + Membership.nodeName(target)
          + " to lead, so it cannot see the switchover through: send it to the leader (through the load balancer) "
          + "or to a node that stays");
    }
    return new Plan(leaderMember, target, List.copyOf(older));
  }

  /**
   * The members of {@code addresses} that still count for the singleton's placement: Up or Leaving (the singleton
   * manager counts a Leaving member among the oldest until it is Exiting).
   */
  private List<String> stillInService(Set<Address> addresses) {
    List<String> out = new ArrayList<>();
    for (Member m : Cluster.get(system).state().getMembers()) {
      if (addresses.contains(m.address()) && (m.status() == MemberStatus.up() || m.status() == MemberStatus.leaving())) {
        out.add(Membership.nodeName(m));
      }
    }
    return out;
  }

  /** Completes with true once {@code done} holds (checked every 50 ms), with false after {@code timeout}. */
  private CompletableFuture<Boolean> waitUntil(BooleanSupplier done, Duration timeout) {
    CompletableFuture<Boolean> out = new CompletableFuture<>();
    long deadline = System.nanoTime() + timeout.toNanos();
    Runnable[] check = new Runnable[1];
    check[0] = () -> {
      if (done.getAsBoolean()) {
        out.complete(true);
      } else if (System.nanoTime() - deadline > 0) {
        out.complete(false);
      } else {
        system.scheduler().scheduleOnce(Duration.ofMillis(50), check[0], system.executionContext());
      }
    };
    check[0].run();
    return out;
  }
}
