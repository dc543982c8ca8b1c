package dev.pmmha.testkit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** A throwaway PostgreSQL for the whole test class: {@code pg.createDatabase()} gives each test its own. */
public abstract class WithPostgres {

  protected static PostgresServer pg;

  @BeforeAll
  static void startPostgres() {
    pg = PostgresServer.start();
  }

  @AfterAll
  static void stopPostgres() {
    pg.close();
  }
}
