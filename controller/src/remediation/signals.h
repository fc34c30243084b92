#pragma once

// Signals about the target and the pure functions that read them: detection with the
// `for` window, and parsers for what the collectors fetch (the target's /metrics, the
// Prometheus HTTP API, the target's log lines). No I/O here.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pg_admin.h"  // SessionRow
#include "remediation/metric_presets.h"
#include "remediation/status.h"

namespace poolguard::controller {

/// Signal names, so detection, diagnosis and status agree.
namespace signal {
inline constexpr char kHealth[] = "health";  // "health/<pod>" per pod
inline constexpr char kErrorRatio[] = "errorRatio";
inline constexpr char kP99Latency[] = "p99LatencySeconds";
inline constexpr char kPoolTimeouts[] = "poolTimeouts";
inline constexpr char kPoolSaturation[] = "poolSaturation";  // "poolSaturation/<pod>" per pod
inline constexpr char kDbErrorLogs[] = "dbErrorLogs";
inline constexpr char kDbSessions[] = "dbSessions";
}  // namespace signal

/// One observation with a four-way outcome. Error and Inconclusive are not evidence.
struct Signal {
  std::string name;
  Outcome outcome = Outcome::kInconclusive;
  std::optional<double> value;
  WallTime observed_at;
  std::string detail;
  bool operator==(const Signal&) const = default;
};

/// The detection decision. Level-based over ticks: a tick with any Fail is bad, a tick
/// with a Pass and no Fail is good, a tick with neither (every probe errored or was
/// inconclusive) is no evidence and leaves the state as it was.
/// - Unknown becomes Healthy on the first good tick, Degraded once bad ticks have run
///   for `for` (a first bad tick with `for` 0 is enough).
/// - Healthy becomes Degraded when the current tick is bad and the bad run began at
///   least `for` ago; a good tick restarts the run.
/// - Degraded becomes Healthy when good ticks have run for `for`.
DetectionState Detect(const DetectionSpec& spec, const DetectionState& previous,
                      const std::vector<Signal>& signals, WallTime now);

// ---- building signals from raw observations ----

/// What a health answer's body says, as ReadHealthBody reads it.
struct HealthBodyVerdict {
  std::optional<bool> healthy;  // nullopt: nothing in the body that says either way
  std::string detail;           // the fields read, e.g. `status "degraded", database "unhealthy"`
};
/// Reads the fields health endpoints use across stacks, from a JSON object body: a
/// top-level `status` (the reference design's "ok"/"degraded", Spring Boot Actuator's
/// "UP"/"DOWN"/"OUT_OF_SERVICE", the IETF health-check draft's "pass"/"warn"/"fail"), a
/// `database` or `db` field (a word, a boolean, or an object with its own `status`), and
/// Actuator's `components.db` / `components.database` status. Any field that says down
/// makes the body unhealthy; known words that all say up make it healthy; a body that is
/// not a JSON object, or holds none of these fields or only words not in the table,
/// says nothing. Words are compared case-insensitively:
///   up:   ok, up, healthy, pass, passing, warn, green, available, connected, true
///   down: down, out_of_service, degraded, unhealthy, fail, failing, failed, error,
///         critical, red, unavailable, disconnected, unreachable, false
HealthBodyVerdict ReadHealthBody(std::string_view body);

/// One pod's /health probe. `status` is the HTTP status when one arrived.
struct HealthProbe {
  std::string pod;
  std::optional<int> status;
  bool timed_out = false;
  bool process_alive = false;  // /livez (or /metrics) answered in the same tick
  std::string error;           // transport error text
  std::string body;            // the answer's body (bounded by the collector)
  bool read_body = true;       // spec.target.healthBody: Auto (true) or Ignore (false)
  bool ready = true;           // the endpoint is Ready (a pod not yet, or no longer, is not)
  bool connected = false;      // the probe's TCP handshake completed before it timed out
};
/// 200: Pass, unless `read_body` and ReadHealthBody says the body is unhealthy (a 200 with
/// {"status": "degraded"}): Fail. Another status: Fail. A timeout while the process
/// answers /livez: Fail (the health check is stuck on the pool) — unless the endpoint is
/// not Ready: a pod that has just started answers its first checks slowly (a first
/// connection, a cold runtime), so that is Inconclusive. A timeout after the connection was
/// accepted, on a Ready pod that answers nothing else either: Fail (the process is wedged:
/// its listener accepts, nothing answers). No answer at all otherwise (refused, or the
/// connect itself timed out): Error — a pod that is starting or gone, or a network between
/// the controller and the pod, is not evidence. The detail quotes the body's fields.
Signal HealthSignal(const HealthProbe& probe, WallTime now);

/// A value compared with a threshold (Fail above it). No value: Error when `error` says why
/// (e.g. Prometheus unreachable), Inconclusive otherwise (no data, or NaN: no traffic).
Signal ThresholdSignal(std::string name, std::optional<double> value, double threshold,
                       const std::string& error, WallTime now);

/// The target's pool gauges, from one pod's /metrics or from PromQL.
struct PoolGauges {
  std::optional<double> size, max_overflow, checked_out, idle, waiters, timeouts_total;
  bool operator==(const PoolGauges&) const = default;
};
/// All connections checked out (size + overflow) with waiters queued: the outage, seen
/// before the first DB_POOL_TIMEOUT fires.
bool PoolSaturated(const PoolGauges& gauges);
Signal PoolSaturationSignal(const std::string& pod, const std::optional<PoolGauges>& gauges,
                            const std::string& error, WallTime now);

/// Database errors in a target's logs, counted by kind (pool_timeout, too_many_clients,
/// authentication, connection_refused, connection_lost, query): one per log record.
struct DbErrorCounts {
  std::map<std::string, int> by_kind;
  std::string sample;  // the latest line of the most frequent kind
  int Total() const;
  int Count(const std::string& kind) const;
  bool operator==(const DbErrorCounts&) const = default;
};
/// Fail when any line counts (query errors excepted: they are the target's own bugs, not
/// an outage); Pass when the logs were read and had none; Error when they could not be read.
Signal LogSignal(const std::optional<DbErrorCounts>& counts, const std::string& error,
                 WallTime now);

/// What PostgreSQL shows of the target's sessions (those SessionRow::is_target marks).
struct DbSessionsInput {
  std::optional<std::vector<SessionRow>> sessions;  // nullopt: not read
  std::string error;                                // why not
  std::string matched_by;                           // SessionFilter::Describe()
  std::optional<int> pool_capacity;                 // pool size x replicas, when the size is known
  std::optional<DbCapacity> server;                 // the server's slots
  std::chrono::milliseconds lock_wait{1000};
  std::chrono::milliseconds idle_in_transaction{10000};
};
/// The target's pools as the database shows them: its sessions by state, and whether they
/// are starved — none idle while some have waited on a lock for `lock_wait` (every
/// connection the app holds is stuck, and as many as its pools hold when that is known), or
/// sessions idle in a transaction for `idle_in_transaction` filling its known capacity.
struct DbPoolView {
  int target = 0, idle = 0, active = 0, idle_in_transaction = 0;
  int waiting = 0, waiting_long = 0, idle_in_transaction_long = 0;
  double longest_wait = 0;
  std::vector<int> blockers;  // pids the waiting sessions wait on, ascending
  bool starved = false;
  // Starved by work, not by a lock or a leak: as many sessions as its pools hold, every one
  // running a query (what a traffic surge on slow requests looks like).
  bool all_active = false;
  // Held, not used: the pools full of the target's sessions, every one idle (or idle in a
  // transaction) for a second or more, none running a query, none waiting. With pool
  // timeouts, connections taken and never given back: a leak in the target, not load.
  // (Without timeouts it is only an idle app's open pool: not a starvation by itself.)
  bool held_idle = false;
  std::string detail;  // why starved, e.g. "10 of 10 target sessions wait on a lock, none idle"
};
DbPoolView ViewDbPool(const DbSessionsInput& in);

/// The dbSessions signal, for any app: Fail when one of the target's sessions has waited
/// on a lock for at least `lock_wait`, or when its sessions idle in a transaction for at
/// least `idle_in_transaction` fill its pools; Pass otherwise. No session of the target at
/// all is Inconclusive (an idle app, or a wrong match: the detail says what was matched);
/// unread is Error. The value is the longest lock wait in seconds.
Signal DbSessionsSignal(const DbSessionsInput& in, WallTime now);
/// status.sessions of a read of pg_stat_activity.
SessionsStatus SummarizeSessions(const std::vector<SessionRow>& rows,
                                 const std::string& matched_by);

// ---- parsers ----

/// One sample of the Prometheus text exposition format (version 0.0.4).
struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  bool operator==(const PromSample&) const = default;
};
/// The most samples one exposition is read for (a target's /metrics is a few hundred).
inline constexpr size_t kMaxPromSamples = 100'000;
struct PromTextParse {
  std::vector<PromSample> samples;
  std::string error;  // the first malformed line ("line 7: ..."); samples before it are kept
};
PromTextParse ParsePrometheusText(std::string_view text);
/// A target's pool gauges from its samples, by the preset's names (each summed over its
/// series: one per pool; a name the preset lacks stays unknown).
PoolGauges ReadPoolGauges(const std::vector<PromSample>& samples, const PodMetricNames& names);
/// Sum of a metric's samples whose labels include `match` (e.g. db_errors_total{kind=...}).
std::optional<double> SumSamples(const std::vector<PromSample>& samples, std::string_view name,
                                 const std::map<std::string, std::string>& match = {});

/// A Prometheus HTTP API /api/v1/query answer.
struct PromQueryResult {
  bool ok = false;
  std::string error;  // Prometheus's errorType: error, or why the body could not be read
  std::vector<PromSample> samples;  // vector: one per series (name from __name__); scalar: one
};
PromQueryResult ParsePromQueryResponse(std::string_view body);
/// The single value of an instant query meant to return one series (sum(...), a ratio):
/// nullopt when the result is empty or NaN (no traffic). Several series: their maximum
/// (the worst pod).
std::optional<double> SingleValue(const PromQueryResult& result);
/// Several instant queries as one: each wrapped in label_replace(..., "poolguard_query",
/// "<index>", "", "") and joined with `or`, so one request answers them all and each series
/// says which query it came from. Queries must be instant vectors (a scalar is refused by
/// Prometheus: ask them one by one then).
std::string BatchPromQL(const std::vector<std::string>& queries);
/// Each query's value from a batch's answer (as SingleValue: the maximum of its series, NaN
/// skipped; nullopt for a query with no series).
std::vector<std::optional<double>> SplitPromBatch(const PromQueryResult& result, size_t queries);

/// The built-in table, first match first: the texts SQLAlchemy, psycopg2/libpq,
/// node-postgres, HikariCP and the PostgreSQL JDBC driver print (docs/remediation.md lists
/// them with their sources).
const std::vector<LogPattern>& DriverLogPatterns();

/// Counts database errors in a target's logs, one per log record, whatever wrote them:
/// - a record is a line and its continuation lines: indented lines (stack frames), blank
///   lines, `Traceback (most recent call last):` and the exception line that ends it,
///   `Caused by: ...`, Python's chained-exception notes, SQLAlchemy's `[SQL: ...]`,
///   `[parameters: ...]` and `(Background on this error at: ...)`, a Java exception header right
///   after the message; so a multi-line stack trace counts once with its message;
/// - its kind: the `<kind>` of a `DB_ERROR: <kind>: <message>` line (a lower-case kind
///   after the marker, as an app may write it), else the first of `patterns` (the spec's own,
///   checked first) or of DriverLogPatterns() that a line of the record contains;
/// - lines may be text or JSON (one object per line: the message in "msg"), with or
///   without a Kubernetes timestamp prefix (pods/log ?timestamps=true).
/// The sample is the matching line (from DB_ERROR: on, or the JSON message) of the latest
/// record of the most frequent kind, at most 300 bytes.
DbErrorCounts ParseDbErrorLines(std::string_view logs,
                                const std::vector<LogPattern>& patterns = {});

}  // namespace poolguard::controller
