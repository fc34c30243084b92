#include "remediation/diagnose.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/duration.h"
#include "core/text.h"

namespace poolguard::controller {
namespace {

// A check's result with the number of independent sources behind a Fail.
struct Check {
  CheckResult result;
  int fail_sources = 0;
};

Check Make(const char* name, Outcome outcome, std::string evidence, int fail_sources = 0) {
  return {{name, outcome, std::move(evidence)}, fail_sources};
}

Check DatabaseRunning(const Observations& o) {
  if (!o.db_pods) return Make(check::kDatabaseRunning, Outcome::kInconclusive, "pods not read");
  if (o.db_pods->empty()) {
    return Make(check::kDatabaseRunning, Outcome::kFail, "no database pods", 1);
  }
  std::vector<std::string> ready, not_ready;
  for (const auto& p : *o.db_pods) {
    if (p.ready) {
      ready.push_back(p.name + " Ready");
    } else {
      not_ready.push_back(p.name + " not Ready" + (p.reason.empty() ? "" : " (" + p.reason + ")"));
    }
  }
  if (ready.empty()) return Make(check::kDatabaseRunning, Outcome::kFail, Join(not_ready, ", "), 1);
  if (o.login == LoginResult::kTimedOut && o.tcp.outcome == Outcome::kPass) {
    // Running but wedged: the port accepts connections, the server answers no login.
    return Make(check::kDatabaseRunning, Outcome::kFail,
                Join(ready, ", ") +
                    ", TCP connect ok, but a login got no answer in time (the server is hung)" +
                    (o.login_detail.empty() ? "" : ": " + o.login_detail),
                1);
  }
  ready.insert(ready.end(), not_ready.begin(), not_ready.end());
  return Make(check::kDatabaseRunning, Outcome::kPass, Join(ready, ", "));
}

Check NetworkReachable(const Observations& o) {
  if (IsEvidence(o.tcp.outcome)) {
    return Make(check::kNetworkReachable, o.tcp.outcome,
                o.tcp.detail.empty()
                    ? (o.tcp.outcome == Outcome::kPass ? "TCP connect ok" : "TCP connect failed")
                    : o.tcp.detail,
                o.tcp.outcome == Outcome::kFail ? 1 : 0);
  }
  if (o.login == LoginResult::kRefused) {
    return Make(check::kNetworkReachable, Outcome::kFail, "login refused: " + o.login_detail, 1);
  }
  if (o.login == LoginResult::kOk || o.login == LoginResult::kAuthRejected ||
      o.login == LoginResult::kTooManyClients) {
    return Make(check::kNetworkReachable, Outcome::kPass, "the server answered a login");
  }
  return Make(check::kNetworkReachable, o.tcp.outcome,
              o.tcp.detail.empty() ? "not probed" : o.tcp.detail);
}

Check AuthenticationErrors(const Observations& o) {
  std::vector<std::string> fail, pass;
  if (o.login == LoginResult::kAuthRejected) {
    fail.push_back("login with the target's credentials rejected" +
                   (o.login_detail.empty() ? "" : ": " + o.login_detail));
  } else if (o.login == LoginResult::kOk) {
    pass.push_back("login with the target's credentials ok");
  }
  if (o.logs) {
    const int n = o.logs->Count("authentication");
    if (n > 0) {
      fail.push_back(Plural(n, "authentication error in logs", "authentication errors in logs"));
    } else {
      pass.push_back("no authentication errors in logs");
    }
  }
  if (o.auth_errors) {
    if (*o.auth_errors > 0) {
      fail.push_back(FormatFixed(*o.auth_errors, 0) + " authentication errors in metrics");
    } else {
      pass.push_back("no authentication errors in metrics");
    }
  }
  if (!fail.empty()) {
    return Make(check::kAuthenticationErrors, Outcome::kFail, Join(fail, "; "),
                static_cast<int>(fail.size()));
  }
  if (!pass.empty()) return Make(check::kAuthenticationErrors, Outcome::kPass, Join(pass, "; "));
  return Make(check::kAuthenticationErrors, Outcome::kInconclusive,
              "no login attempted, no logs or metrics");
}

Check PoolTimeouts(const Observations& o) {
  std::vector<std::string> fail, pass;
  if (o.pool_timeouts) {
    if (*o.pool_timeouts > 0) {
      fail.push_back(FormatFixed(*o.pool_timeouts, 0) + " pool timeouts in metrics");
    } else {
      pass.push_back("no pool timeouts in metrics");
    }
  }
  if (o.logs) {
    const int n = o.logs->Count("pool_timeout");
    if (n > 0) {
      fail.push_back(Plural(n, "pool_timeout error in logs", "pool_timeout errors in logs"));
    } else {
      pass.push_back("no pool_timeout errors in logs");
    }
  }
  std::vector<std::string> saturated;
  bool saturation_known = false;
  for (const auto& s : o.signals) {
    if (s.name.rfind(signal::kPoolSaturation, 0) != 0) continue;
    if (s.outcome == Outcome::kFail) saturated.push_back(s.name + " (" + s.detail + ")");
    if (IsEvidence(s.outcome)) saturation_known = true;
  }
  if (!saturated.empty()) {
    fail.push_back("saturated: " + Join(saturated, ", "));
  } else if (saturation_known) {
    pass.push_back("pool not saturated");
  }
  // What any app's pools look like from the database: every connection stuck.
  if (o.db_pool && o.db_pool->starved) {
    fail.push_back("starved as the database shows: " + o.db_pool->detail);
  }
  // Only beside timeouts: an idle app's open pool looks the same.
  if (!fail.empty() && o.db_pool && o.db_pool->held_idle) {
    fail.push_back("held and not used as the database shows: " + o.db_pool->detail);
  }
  if (!fail.empty()) {
    return Make(check::kPoolTimeouts, Outcome::kFail, Join(fail, "; "),
                static_cast<int>(fail.size()));
  }
  if (!pass.empty()) return Make(check::kPoolTimeouts, Outcome::kPass, Join(pass, "; "));
  return Make(check::kPoolTimeouts, Outcome::kInconclusive, "no pool metrics or logs");
}

struct Blocking {
  Check check;
  std::vector<int> terminable;  // root blockers that are not the target's own sessions
};

std::string DescribeHolder(const SessionRow& s) {
  std::string out = s.state.empty() ? "in an unknown state" : s.state;
  out += " " + FormatFixed(std::floor(s.state_seconds), 0) + "s";
  if (!s.lock_mode.empty()) {
    out += " holding " + s.lock_mode + (s.lock_relation.empty() ? "" : " on " + s.lock_relation);
  }
  out += " (" + (s.application_name.empty() ? "pid " + std::to_string(s.pid)
                                            : "application_name " + s.application_name);
  if (!s.role.empty()) out += ", role " + s.role;
  if (s.is_target) out += ", the target's own session: not terminated";
  out += ")";
  return out;
}

Blocking BlockingSessions(const Observations& o) {
  Blocking b;
  if (!o.sessions) {
    b.check = Make(check::kBlockingSessions, Outcome::kInconclusive,
                   "pg_stat_activity not read" +
                       (o.login_detail.empty() ? std::string() : ": " + o.login_detail));
    return b;
  }
  const auto& rows = *o.sessions;
  std::set<int> blocker_pids;
  int target_waiting = 0, waiting = 0;
  for (const auto& r : rows) {
    if (r.blocked_by.empty()) continue;
    ++waiting;
    if (r.is_target) ++target_waiting;
    blocker_pids.insert(r.blocked_by.begin(), r.blocked_by.end());
  }
  // Root holders: blockers that are not themselves waiting on a lock.
  std::vector<const SessionRow*> roots;
  std::vector<int> unknown_roots;
  for (int pid : blocker_pids) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.pid == pid; });
    if (it == rows.end()) {
      unknown_roots.push_back(pid);
    } else if (it->blocked_by.empty()) {
      roots.push_back(&*it);
    }
  }
  if (waiting == 0) {
    b.check = Make(check::kBlockingSessions, Outcome::kPass,
                   "no session waits on a lock (" +
                       Plural(static_cast<int>(rows.size()), "session", "sessions") + ")");
    return b;
  }
  std::vector<std::string> holders;
  for (const auto* r : roots) {
    holders.push_back(DescribeHolder(*r));
    if (!r->is_target) b.terminable.push_back(r->pid);
  }
  for (int pid : unknown_roots) holders.push_back("pid " + std::to_string(pid) + " (not visible)");
  const int n = static_cast<int>(holders.size());
  std::string evidence = Plural(n, "session", "sessions") + " " + Join(holders, "; ") + ", " +
                         Plural(target_waiting, "target session", "target sessions") + " waiting";
  if (waiting > target_waiting) {
    evidence += " (" + Plural(waiting - target_waiting, "other", "others") + ")";
  }
  if (target_waiting == 0) {
    b.check = Make(
        check::kBlockingSessions, Outcome::kPass,
        evidence + ": the target is not blocked" +
            (o.sessions_matched_by.empty() ? std::string()
                                           : " (its sessions: " + o.sessions_matched_by + ")"));
    b.terminable.clear();
    return b;
  }
  b.check = Make(check::kBlockingSessions, Outcome::kFail, evidence, 1);
  return b;
}

struct Slots {
  Check check;
  std::vector<int> holders;  // other clients' sessions idle long enough to be ended
};

bool IsIdle(const SessionRow& s) {
  return s.state == "idle" || s.state.rfind("idle in transaction", 0) == 0;
}

// Sessions that hold a slot the target needs while doing nothing: not the target's, not a
// diagnostic session of this or another controller (an experiment's are: a leak is what
// this finds), idle for at least `o.idle_slot_holder`. Longest idle first.
std::vector<const SessionRow*> SlotHolders(const Observations& o) {
  std::vector<const SessionRow*> out;
  if (!o.sessions) return out;
  const double min_seconds = static_cast<double>(o.idle_slot_holder.count()) / 1000;
  for (const auto& s : *o.sessions) {
    if (s.is_target || s.application_name.rfind("poolguard-controller", 0) == 0) continue;
    if (IsIdle(s) && s.state_seconds >= min_seconds) out.push_back(&s);
  }
  std::stable_sort(out.begin(), out.end(), [](const SessionRow* a, const SessionRow* b) {
    return a->state_seconds > b->state_seconds;
  });
  return out;
}

Slots ServerSlots(const Observations& o) {
  Slots slots;
  std::vector<std::string> fail;
  std::string pass;
  if (o.capacity && o.capacity->max_connections > 0) {
    const auto& c = *o.capacity;
    const int usable = c.max_connections - c.reserved;
    const std::string text = std::to_string(c.in_use) + " of " + std::to_string(usable) +
                             " usable slots in use (max_connections " +
                             std::to_string(c.max_connections) + " - " +
                             std::to_string(c.reserved) + " reserved)";
    if (c.in_use >= usable) {
      fail.push_back(text);
    } else {
      pass = text;
    }
  }
  if (o.login == LoginResult::kTooManyClients) {
    fail.push_back("login refused: too many clients already (53300)");
  }
  if (o.logs && o.logs->Count("too_many_clients") > 0) {
    const int n = o.logs->Count("too_many_clients");
    // Logs alone report the past: they corroborate a full server, they do not prove one.
    if (!fail.empty()) {
      fail.push_back(
          Plural(n, "too_many_clients error in logs", "too_many_clients errors in logs"));
    } else if (!pass.empty()) {
      pass += "; " + Plural(n, "too_many_clients error", "too_many_clients errors") +
              " in logs earlier";
    }
  }
  if (!fail.empty()) {
    const int sources = static_cast<int>(fail.size());
    if (o.sessions) {
      const auto holders = SlotHolders(o);
      const std::string idle = FormatDuration(o.idle_slot_holder);
      if (holders.empty()) {
        fail.push_back("no other client's session idle " + idle + " or longer");
      } else {
        std::vector<std::string> named;
        for (const auto* h : holders) {
          slots.holders.push_back(h->pid);
          if (named.size() < 3) named.push_back(DescribeHolder(*h));
        }
        const int n = static_cast<int>(holders.size());
        std::string text = Plural(n, "session", "sessions") + " of other clients idle " + idle +
                           " or longer hold slots: " + Join(named, "; ");
        if (n > 3) text += "; and " + std::to_string(n - 3) + " more";
        fail.push_back(text);
      }
    }
    slots.check = Make(check::kServerSlots, Outcome::kFail, Join(fail, "; "), sources);
    return slots;
  }
  slots.check = pass.empty()
                    ? Make(check::kServerSlots, Outcome::kInconclusive, "capacity not read")
                    : Make(check::kServerSlots, Outcome::kPass, pass);
  return slots;
}

Confidence Min(Confidence a, Confidence b) { return a < b ? a : b; }

}  // namespace

Diagnosis Diagnose(const Observations& o) {
  const Check db = DatabaseRunning(o);
  const Check net = NetworkReachable(o);
  const Check auth = AuthenticationErrors(o);
  const Check pool = PoolTimeouts(o);
  const Blocking blocking = BlockingSessions(o);
  const Slots server_slots = ServerSlots(o);
  const Check& slots = server_slots.check;
  const Check& lock = blocking.check;

  Diagnosis d;
  for (const Check* c : {&db, &net, &auth, &pool, &lock, &slots}) d.checks.push_back(c->result);
  auto failed = [](const Check& c) { return c.result.result == Outcome::kFail; };
  auto passed = [](const Check& c) { return c.result.result == Outcome::kPass; };

  bool corroborated = false;
  std::string why;
  if (failed(db) && o.login == LoginResult::kTimedOut && o.tcp.outcome == Outcome::kPass) {
    d.conclusion = Conclusion::kDatabaseDown;
    // A second source: the target's pool times out, or our own queries on a session logged
    // in before got no answer either.
    corroborated = failed(pool) || !o.sessions.has_value();
    why = "the database runs and accepts connections but answers no login (hung)";
  } else if (failed(db)) {
    d.conclusion = Conclusion::kDatabaseDown;
    const bool refused = failed(net) || (o.logs && (o.logs->Count("connection_refused") > 0 ||
                                                    o.logs->Count("connection_lost") > 0));
    corroborated = refused;
    why = "database pods not Ready" + std::string(refused ? ", and connections are refused" : "");
  } else if (failed(net)) {
    d.conclusion = Conclusion::kNetworkUnreachable;
    corroborated = passed(db);
    why = corroborated ? "database pods Ready but not reachable" : "database not reachable";
  } else if (failed(auth)) {
    d.conclusion = Conclusion::kCredentialsRejected;
    corroborated = auth.fail_sources >= 2;
    why = "credentials rejected";
  } else if (failed(lock)) {
    d.conclusion = Conclusion::kLockContention;
    corroborated = failed(pool) || failed(slots);
    why = "a session holds a lock the target waits on";
    if (failed(slots)) why += " (and the waiting backends hold the server's slots)";
  } else if (failed(slots)) {
    d.conclusion = Conclusion::kServerSlotsExhausted;
    corroborated = slots.fail_sources >= 2;
    why = "the server has no connection slots left";
  } else if (failed(pool)) {
    d.conclusion = Conclusion::kConnectionPoolExhausted;
    corroborated = passed(lock) && passed(slots);
    why = corroborated ? "the pool times out while the database is healthy" : "the pool times out";
    if (o.db_pool && o.db_pool->held_idle) {
      why += "; its connections are taken and not given back (a leak in the target): " +
             o.db_pool->detail;
    }
  } else {
    d.conclusion = Conclusion::kUnknown;
    why = "no check explains the degradation";
  }

  std::vector<std::string> unknown;
  for (const Check* c : {&db, &net, &auth, &pool, &lock, &slots}) {
    // A database that is down answers no login and shows no session: the checks that ask it
    // cannot run, and that is no doubt about the conclusion.
    const bool asks_the_database = c == &auth || c == &lock || c == &slots;
    if (d.conclusion == Conclusion::kDatabaseDown && asks_the_database) continue;
    if (!IsEvidence(c->result.result)) unknown.push_back(c->result.name);
  }
  std::vector<std::string> notes;
  Confidence confidence = corroborated ? Confidence::kHigh : Confidence::kMedium;
  if (d.conclusion == Conclusion::kUnknown) {
    confidence = Confidence::kLow;
  } else if (corroborated) {
    notes.push_back("independent signals agree");
  } else {
    notes.push_back("one signal, not corroborated");
  }
  if (!unknown.empty()) {
    confidence = Min(confidence, unknown.size() >= 3 ? Confidence::kLow : Confidence::kMedium);
    notes.push_back("inconclusive: " + Join(unknown, ", "));
  }
  if (o.prometheus_configured && o.prometheus.outcome != Outcome::kPass) {
    confidence = Min(confidence, Confidence::kMedium);
    std::string note =
        "Prometheus unavailable" +
        (o.prometheus.detail.empty() ? std::string() : " (" + o.prometheus.detail + ")") +
        ": metrics missing";
    // "signals agree" read as High; say why it is not.
    if (!notes.empty() && notes.front() == "independent signals agree") {
      notes.front() = "independent signals agree, but " + note;
    } else {
      notes.push_back(note);
    }
  }
  d.confidence = confidence;
  d.summary = std::string(ConclusionName(d.conclusion)) + ": " + why + "; confidence " +
              std::string(ConfidenceName(confidence)) + ": " + Join(notes, "; ");
  if (d.conclusion == Conclusion::kLockContention) d.blocking_pids = blocking.terminable;
  if (d.conclusion == Conclusion::kServerSlotsExhausted) d.blocking_pids = server_slots.holders;
  return d;
}

}  // namespace poolguard::controller
