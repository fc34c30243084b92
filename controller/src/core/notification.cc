#include "core/notification.h"

#include <cctype>
#include <cstdio>

namespace poolguard::controller {
namespace {

std::string Seconds(const std::optional<double>& s) {
  if (!s) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", *s);
  return buf;
}

std::string Headline(const Notification& n) {
  const std::string who = n.kind + " " + n.ns + "/" + n.name;
  if (n.event == "AwaitingApproval") {
    return who + " needs approval" + (n.pending_action.empty() ? "" : " for " + n.pending_action) +
           " (incident " + n.incident + ")";
  }
  if (n.event == "NeedsHuman") return who + " needs a human (incident " + n.incident + ")";
  if (n.event == "Resolved") return who + " resolved incident " + n.incident;
  if (n.event == "Rejected") return who + " was rejected";
  if (n.event == "Failed") return who + " failed";
  return who + ": " + n.event;
}

std::string Severity(const Notification& n) {
  if (n.event == "NeedsHuman") return "critical";
  if (n.event == "AwaitingApproval" || n.event == "Failed") return "warning";
  return "info";
}

}  // namespace

std::string Notification::Key() const {
  return kind + "/" + ns + "/" + name + "/" + incident + "/" + event;
}

std::optional<WebhookFormat> ParseWebhookFormat(std::string_view text) {
  if (text.empty() || text == "slack" || text == "Slack") return WebhookFormat::kSlack;
  if (text == "alertmanager" || text == "Alertmanager") return WebhookFormat::kAlertmanager;
  return std::nullopt;
}

std::string_view WebhookFormatName(WebhookFormat format) {
  return format == WebhookFormat::kSlack ? "Slack" : "Alertmanager";
}

std::string CheckWebhookUrl(std::string_view url) {
  if (url.size() > 2048) return "longer than 2048 bytes";
  std::string_view rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    return "must start with http:// or https://";
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return "must not contain spaces or control characters";
    }
  }
  const auto end = rest.find_first_of("/?#");
  if (rest.substr(0, end).empty()) return "has no host";
  return "";
}

std::string ConsoleLink(const std::string& console_url, const Notification& n) {
  if (console_url.empty()) return "";
  std::string base = console_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/?select=" + n.ns + "/" + n.name;
}

Json SlackPayload(const Notification& n, const std::string& console_url) {
  std::string text = Headline(n);
  std::string details;
  if (!n.target.empty()) details += "target " + n.target;
  if (!n.conclusion.empty())
    details += (details.empty() ? "" : " · ") + ("diagnosis " + n.conclusion);
  if (n.detection_seconds) {
    details += (details.empty() ? "" : " · ") + ("detected in " + Seconds(n.detection_seconds));
  }
  if (n.recovery_seconds) {
    details += (details.empty() ? "" : " · ") + ("recovered in " + Seconds(n.recovery_seconds));
  }
  const std::string link = ConsoleLink(console_url, n);
  std::string body = "*" + text + "*";
  if (!details.empty()) body += "\n" + details;
  if (!n.message.empty()) body += "\n" + n.message;
  if (!link.empty()) body += "\n<" + link + "|Open in the PoolGuard console>";

  Json section = Json::object();
  section["type"] = Json::string("section");
  section["text"]["type"] = Json::string("mrkdwn");
  section["text"]["text"] = Json::string(body);
  Json payload = Json::object();
  payload["text"] = Json::string(text + (link.empty() ? "" : " " + link));
  payload["blocks"] = Json::array({section});
  return payload;
}

Json AlertmanagerPayload(const Notification& n, const std::string& console_url) {
  Json labels = Json::object();
  labels["alertname"] = Json::string("PoolGuard" + n.event);
  labels["namespace"] = Json::string(n.ns);
  labels[n.kind == "Remediation" ? "remediation" : "chaosexperiment"] = Json::string(n.name);
  if (!n.incident.empty()) labels["incident"] = Json::string(n.incident);
  if (!n.target.empty()) labels["deployment"] = Json::string(n.target);
  labels["severity"] = Json::string(Severity(n));
  Json annotations = Json::object();
  annotations["summary"] = Json::string(Headline(n));
  if (!n.message.empty()) annotations["description"] = Json::string(n.message);
  if (!n.conclusion.empty()) annotations["diagnosis"] = Json::string(n.conclusion);
  if (!n.pending_action.empty()) annotations["pending_action"] = Json::string(n.pending_action);
  if (n.detection_seconds) annotations["detection"] = Json::string(Seconds(n.detection_seconds));
  if (n.recovery_seconds) annotations["recovery"] = Json::string(Seconds(n.recovery_seconds));
  const std::string link = ConsoleLink(console_url, n);
  const std::string status = n.resolved ? "resolved" : "firing";

  Json alert = Json::object();
  alert["status"] = Json::string(status);
  alert["labels"] = labels;
  alert["annotations"] = annotations;
  alert["startsAt"] = Json::string(FormatTime(n.started == WallTime{} ? n.at : n.started));
  alert["endsAt"] = Json::string(n.resolved ? FormatTime(n.at) : "0001-01-01T00:00:00Z");
  alert["generatorURL"] = Json::string(link);
  alert["fingerprint"] = Json::string(n.Key());

  Json payload = Json::object();
  payload["version"] = Json::string("4");
  payload["groupKey"] = Json::string(n.kind + "/" + n.ns + "/" + n.name);
  payload["truncatedAlerts"] = Json::number(0);
  payload["status"] = Json::string(status);
  payload["receiver"] = Json::string("poolguard");
  payload["groupLabels"] = Json::object();
  payload["groupLabels"]["alertname"] = labels["alertname"];
  payload["commonLabels"] = labels;
  payload["commonAnnotations"] = annotations;
  payload["externalURL"] = Json::string(console_url);
  payload["alerts"] = Json::array({alert});
  return payload;
}

Json Payload(WebhookFormat format, const Notification& n, const std::string& console_url) {
  return format == WebhookFormat::kSlack ? SlackPayload(n, console_url)
                                         : AlertmanagerPayload(n, console_url);
}

}  // namespace poolguard::controller
