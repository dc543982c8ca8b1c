package dev.pmmha.persistence;

/** The store cannot be reached or used; the message says why in one line an operator can act on. */
public final class StoreUnavailableException extends RuntimeException {
  public StoreUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
