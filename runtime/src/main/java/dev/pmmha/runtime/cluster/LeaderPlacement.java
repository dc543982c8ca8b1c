package dev.pmmha.runtime.cluster;

import dev.pmmha.runtime.config.ClusterConfig;
import java.util.Optional;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;

/**
 * Where the leader singleton runs, by the singleton manager's rule: on the oldest member that may lead (the
 * {@link ClusterConfig#MAY_LEAD_ROLE}) and is still in service, Up or Leaving (a Leaving member keeps it until it is
 * Exiting). Read from one node's view of the members, which may lag the cluster's by a gossip round.
 */
public final class LeaderPlacement {

  private LeaderPlacement() {}

  /** A member that may lead and counts for the singleton's placement: Up or Leaving. */
  static boolean inLine(Member m) {
    return m.hasRole(ClusterConfig.MAY_LEAD_ROLE)
        && (m.status() == MemberStatus.up() || m.status() == MemberStatus.leaving());
  }

  /** The node the singleton goes to when {@code leaving} hands it over: the oldest other member that may lead and is Up. */
  public static Optional<String> next(Iterable<Member> members, Member leaving) {
    Member oldest = null;
    for (Member m : members) {
      if (!m.uniqueAddress().equals(leaving.uniqueAddress()) && m.hasRole(ClusterConfig.MAY_LEAD_ROLE)
          && m.status() == MemberStatus.up() && (oldest == null || m.isOlderThan(oldest))) {
        oldest = m;
      }
    }
    return Optional.ofNullable(oldest).map(Membership::nodeName);
  }

  /**
   * Whether a member other than {@code self} may lead and is Up or WeaklyUp: one that can take the singleton over
   * once {@code self} has handed it over (a WeaklyUp member becomes Up as soon as the cluster converges), so that a
   * hand-over has someone to wait for.
   */
  public static boolean anotherMayLead(Iterable<Member> members, Member self) {
    for (Member m : members) {
      if (!m.uniqueAddress().equals(self.uniqueAddress()) && m.hasRole(ClusterConfig.MAY_LEAD_ROLE)
          && (m.status() == MemberStatus.up() || m.status() == MemberStatus.weaklyUp())) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether the singleton runs on {@code self}, or comes to it next once the member named {@code leader} has gone
   * ("" for none): {@code self} is Up and may lead, and no other member in line is older, the leader aside.
   */
  public static boolean hostsOrIsNext(Iterable<Member> members, Member self, String leader) {
    if (self.status() != MemberStatus.up() || !self.hasRole(ClusterConfig.MAY_LEAD_ROLE)) {
      return false;
    }
    for (Member m : members) {
      if (!m.uniqueAddress().equals(self.uniqueAddress()) && inLine(m) && m.isOlderThan(self)
          && !Membership.nodeName(m).equals(leader)) {
        return false;
      }
    }
    return true;
  }
}
