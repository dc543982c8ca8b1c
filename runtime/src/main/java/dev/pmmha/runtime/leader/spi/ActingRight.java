package dev.pmmha.runtime.leader.spi;

import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * A node's right to act as leader, as the fence grants it: whether it holds now, and until when it holds unless
 * renewed.
 *
 * @param mayAct true while this node still holds the fence for its epoch with more than the safety margin left
 * @param actUntilNanos the {@link System#nanoTime()} instant at which {@code mayAct} turns false unless the lease
 *     is renewed first; the fence in the store outlives it by the safety margin. Meaningful only while
 *     {@code mayAct} is true.
 */
public record ActingRight(BooleanSupplier mayAct, LongSupplier actUntilNanos) {}
