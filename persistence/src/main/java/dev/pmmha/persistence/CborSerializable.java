package dev.pmmha.persistence;

/**
 * Marker for every message, event and state that crosses the network or goes to the journal.
 * Bound to Jackson CBOR in {@code reference.conf}; Java serialization stays off.
 */
public interface CborSerializable {}
