package dev.poolguard.examples.orders;

import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessException;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

@RestController
class ItemsController {
  private static final Logger log = LoggerFactory.getLogger(ItemsController.class);

  private final JdbcTemplate jdbc;

  ItemsController(JdbcTemplate jdbc) {
    this.jdbc = jdbc;
  }

  @GetMapping("/items")
  List<Map<String, Object>> items(@RequestParam(defaultValue = "10") int limit) {
    return jdbc.queryForList(
        "SELECT id, name FROM items ORDER BY id LIMIT ?", Math.max(1, Math.min(limit, 100)));
  }

  // A slow report: half a second of database time per request (pg_sleep stands in for an
  // expensive aggregate), holding its pooled connection all along.
  @GetMapping("/items/report")
  Map<String, Object> report() {
    return jdbc.queryForMap(
        "SELECT count(*) AS items, max(id) AS last_id FROM items, pg_sleep(0.5)");
  }

  @ExceptionHandler(DataAccessException.class)
  ResponseEntity<Map<String, String>> databaseError(DataAccessException e) {
    log.error("database error", e);
    return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE)
        .body(Map.of("error", "database unavailable"));
  }
}
