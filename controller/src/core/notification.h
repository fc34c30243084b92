#pragma once

// What a person is told, and how: the notifications a Remediation or ChaosExperiment
// sends when it needs someone (AwaitingApproval, NeedsHuman) or is done (Resolved, an
// experiment Rejected or Failed), and their webhook payloads in Slack's and Alertmanager's
// formats. Pure: building a payload never touches the network (io/webhook_notifier sends).

#include <optional>
#include <string>
#include <string_view>

#include "core/json.h"

namespace poolguard::controller {

struct Notification {
  std::string kind;            // "Remediation" | "ChaosExperiment"
  std::string event;           // AwaitingApproval | NeedsHuman | Resolved | Rejected | Failed
  std::string ns, name;        // the object
  std::string incident;        // the incident id (Remediation), "" for an experiment
  std::string target;          // the target Deployment
  std::string message;         // the object's status message
  std::string conclusion;      // the diagnosis, when there is one
  std::string pending_action;  // AwaitingApproval: the action that waits
  std::optional<double> detection_seconds, recovery_seconds;
  WallTime at{};          // when it happened
  WallTime started{};     // when the incident (or experiment) began, for Alertmanager
  bool resolved = false;  // the condition is over (Resolved): Alertmanager status "resolved"

  /// What makes it one notification: kind/ns/name/incident/event. A webhook gets each key
  /// once, however many times a reconcile repeats.
  std::string Key() const;
};

enum class WebhookFormat { kSlack, kAlertmanager };
std::optional<WebhookFormat> ParseWebhookFormat(std::string_view text);
std::string_view WebhookFormatName(WebhookFormat format);

struct WebhookTarget {
  std::string url;
  WebhookFormat format = WebhookFormat::kSlack;
  bool operator==(const WebhookTarget&) const = default;
};

/// "" when `url` may be a webhook (http:// or https://, a host, at most 2048 bytes, no
/// spaces or control characters), else why not.
std::string CheckWebhookUrl(std::string_view url);

/// The console's page for the notification's object ("" without a console URL):
/// <console>/?select=<ns>/<name>.
std::string ConsoleLink(const std::string& console_url, const Notification& n);

/// Slack's incoming-webhook message: {"text": ..., "blocks": [...]} (also what Mattermost
/// and most chat tools accept).
Json SlackPayload(const Notification& n, const std::string& console_url);

/// Alertmanager's webhook body (version "4"): one alert, labels alertname=PoolGuard<event>,
/// namespace, remediation/chaosexperiment, incident, severity; status firing or resolved.
Json AlertmanagerPayload(const Notification& n, const std::string& console_url);

Json Payload(WebhookFormat format, const Notification& n, const std::string& console_url);

}  // namespace poolguard::controller
