package dev.pmmha.runtime.leader;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;

/**
 * Hears, on the leader topic, a leader's offer of the fence on its way out ({@link Leader.HandOverOffer}), and answers
 * the one addressed to this node with {@link Successor#offered}: the tenure the fence may be given to, or "" to
 * decline. Answers at once either way, so that the leader never waits out its timeout for a node that declines. And
 * hears from that leader, straight after its statement, that the fence was handed over ({@link Leader.FenceHandedOver}).
 */
public final class HandOverOffers {

  private HandOverOffers() {}

  public static Behavior<Leader.News> create(String nodeId, Successor successor,
      ActorRef<Topic.Command<Leader.News>> topic) {
    return Behaviors.setup(ctx -> {
      topic.tell(Topic.subscribe(ctx.getSelf()));
      return Behaviors.receiveMessage(news -> {
        if (news instanceof Leader.HandOverOffer offer && offer.next().equals(nodeId)) {
          offer.replyTo().tell(new Leader.HandOverAccepted(
              successor.offered(offer.epoch(), offer.from(), offer.reason()), ctx.getSelf()));
        } else if (news instanceof Leader.FenceHandedOver h) {
          successor.handedOver(new dev.pmmha.persistence.fence.FenceNotices.HandedOver(
              h.holder(), h.epoch(), h.atMillis(), h.leaseMillis()), "told by the cluster");
        }
        return Behaviors.same();
      });
    });
  }
}
