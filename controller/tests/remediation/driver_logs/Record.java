// Prints what HikariCP + the PostgreSQL JDBC driver raise in each scenario, logged as a
// Spring-style app logs it (SLF4J: the message, then the stack trace). Run by ./record
// (which starts the PostgreSQL server on the port given as args[0]).
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public class Record {
  static final Logger log = LoggerFactory.getLogger("app");
  static int port;

  interface Body {
    void run() throws Exception;
  }

  static String url(String host, int p) {
    return "jdbc:postgresql://" + host + ":" + p + "/postgres";
  }

  // Runs body and logs its error: message and stack trace (marked), or the stack trace
  // alone as e.printStackTrace() writes it (bare).
  static void scenario(String name, Body body, boolean marked) {
    System.err.println("### scenario: " + name);
    try {
      body.run();
    } catch (Exception e) {
      if (marked) {
        log.error("DB_ERROR: {}", e.getMessage(), e);
      } else {
        e.printStackTrace();
      }
    }
    System.err.flush();
  }

  static HikariDataSource pool(String password, int p, int size) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(url("127.0.0.1", p));
    c.setUsername("app");
    c.setPassword(password);
    c.setMaximumPoolSize(size);
    c.setConnectionTimeout(1000);
    return new HikariDataSource(c);
  }

  static Connection connect(String user, String password) throws Exception {
    return DriverManager.getConnection(url("127.0.0.1", port), user, password);
  }

  public static void main(String[] args) throws Exception {
    port = Integer.parseInt(args[0]);
    HikariDataSource ds = pool("app", port, 1);
    Connection held = ds.getConnection();
    scenario("pool_timeout", () -> ds.getConnection(), true);
    scenario("pool_timeout_bare", () -> ds.getConnection(), false);
    held.close();
    ds.close();
    List<Connection> kept = new ArrayList<>();
    scenario("reserved_slots", () -> {
      for (int i = 0; i < 20; i++) kept.add(connect("app", "app"));
    }, true);
    scenario("too_many_clients", () -> {
      for (int i = 0; i < 20; i++) kept.add(connect("postgres", "postgres"));
    }, true);
    for (Connection c : kept) c.close();
    scenario("auth_failed", () -> pool("wrong", port, 1).getConnection(), true);
    scenario("connection_refused",
        () -> DriverManager.getConnection(url("127.0.0.1", 1), "app", "app"), true);
    scenario("unknown_host",
        () -> DriverManager.getConnection(url("no-such-host.invalid", port), "app", "app"), true);
    scenario("connection_lost", () -> {
      Connection c = connect("app", "app");
      int pid;
      try (Statement s = c.createStatement()) {
        var r = s.executeQuery("select pg_backend_pid()");
        r.next();
        pid = r.getInt(1);
      }
      try (Connection admin = connect("postgres", "postgres");
           Statement s = admin.createStatement()) {
        s.execute("select pg_terminate_backend(" + pid + ")");
      }
      Thread.sleep(200);
      try (Statement s = c.createStatement()) {
        s.execute("select 1");
      }
    }, true);
  }
}
