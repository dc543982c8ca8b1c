package dev.pmmha.persistence;

/**
 * A configuration value that cannot be used. Its message is one line that names the variable, the value and
 * what is expected, so that it can be shown to an operator as it is.
 */
public final class SettingsException extends RuntimeException {

  private final String variable;

  public SettingsException(String variable, String value, String expected) {
    super(variable + "=\"" + value + "\" is not valid: expected " + expected);
    this.variable = variable;
  }

  public SettingsException(String message) {
    super(message);
    this.variable = "";
  }

  /** The environment variable (or configuration key) at fault, or empty when several are. */
  public String variable() {
    return variable;
  }
}
