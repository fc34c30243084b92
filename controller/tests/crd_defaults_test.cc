// The CRDs' defaults and the C++ specs' defaults are one fact written twice: this reads the
// CRD files, applies their defaults to a minimal object the way the API server's
// structural defaulting does, and requires the parsed spec to equal the one parsed from the
// minimal object alone (where the C++ defaults fill in). A default changed on one side only
// fails here, naming the field.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

#include "chaos/schedule.h"
#include "chaos/types.h"
#include "remediation/spec.h"

namespace poolguard::controller {
namespace {

YAML::Node SpecSchema(const std::string& crd_file) {
  const YAML::Node crd = YAML::LoadFile(std::string(POOLGUARD_SOURCE_DIR) + "/crds/" + crd_file);
  for (const auto& version : crd["spec"]["versions"]) {
    if (version["storage"].as<bool>()) {
      return version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    }
  }
  ADD_FAILURE() << crd_file << " has no storage version";
  return {};
}

// A YAML value as JSON, typed by its schema (YAML scalars carry no type of their own).
Json ToJson(const YAML::Node& value, const YAML::Node& schema) {
  const std::string type = schema["type"] ? schema["type"].as<std::string>() : "";
  if (value.IsMap()) {
    Json out = Json::object();
    for (const auto& kv : value) {
      const std::string key = kv.first.as<std::string>();
      out[key] = ToJson(kv.second, schema["properties"][key]);
    }
    return out;
  }
  if (value.IsSequence()) {
    Json out = Json::array();
    size_t i = 0;
    for (const auto& item : value) out[i++] = ToJson(item, schema["items"]);
    return out;
  }
  if (type == "integer") return Json::number(value.as<int64_t>());
  if (type == "number") return Json::number(value.as<double>());
  if (type == "boolean") return Json::boolean(value.as<bool>());
  return Json::string(value.as<std::string>());
}

// Every path in `schema` that carries a default ("spec.detection.interval").
void DefaultPaths(const YAML::Node& schema, const std::string& path, std::set<std::string>* out) {
  if (schema["default"]) out->insert(path);
  if (schema["properties"]) {
    for (const auto& kv : schema["properties"]) {
      DefaultPaths(kv.second, path + "." + kv.first.as<std::string>(), out);
    }
  }
  if (schema["items"]) DefaultPaths(schema["items"], path + "[]", out);
}

// The API server's structural defaulting: in an object that is present, an absent property
// with a default gets it; then defaulting goes on inside every present value. With `only`,
// just the defaults at those paths are applied.
void ApplyDefaults(const YAML::Node& schema, Json& value, const std::string& path,
                   std::set<std::string>* applied, const std::set<std::string>* only = nullptr) {
  if (value.is_object() && schema["properties"]) {
    for (const auto& kv : schema["properties"]) {
      const std::string key = kv.first.as<std::string>();
      const YAML::Node& child = kv.second;
      const bool wanted = only == nullptr || only->count(path + "." + key) > 0;
      if (!value.has_field(key) && child["default"] && wanted) {
        value[key] = ToJson(child["default"], child);
        applied->insert(path + "." + key);
      }
      if (value.has_field(key)) {
        ApplyDefaults(child, value[key], path + "." + key, applied, only);
      }
    }
  }
  if (value.is_array() && schema["items"]) {
    for (auto& item : value.as_array()) {
      ApplyDefaults(schema["items"], item, path + "[]", applied, only);
    }
  }
}

// The defaults that, applied alone (with the defaulted objects above them), change what
// `parse` reads from `minimal`: the fields on which the CRD and the controller disagree.
template <typename Parse>
std::vector<std::string> Disagreeing(const YAML::Node& schema, const Json& minimal,
                                     const std::set<std::string>& applied, Parse parse) {
  std::vector<std::string> out;
  const auto bare = parse(minimal).spec;
  for (const auto& path : applied) {
    std::set<std::string> only;
    for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1)) {
      only.insert(path.substr(0, dot));
    }
    only.insert(path);
    Json one = minimal;
    std::set<std::string> ignored;
    ApplyDefaults(schema, one["spec"], "spec", &ignored, &only);
    const auto with = parse(one).spec;
    if (!with || !bare || !(*with == *bare)) out.push_back(path);
  }
  return out;
}

struct Defaulted {
  Json minimal, defaulted;
  std::set<std::string> applied;
};

Defaulted Default(const YAML::Node& schema, const std::string& spec) {
  Defaulted d;
  d.minimal = Json::parse(R"({"metadata":{"name":"x","namespace":"demo"},"spec":)" + spec + "}");
  d.defaulted = d.minimal;
  ApplyDefaults(schema, d.defaulted["spec"], "spec", &d.applied);
  return d;
}

// Defaults `specs` with `crd_file`'s schema and compares what `parse` reads with and
// without them; every default of the schema must have been compared by one of `specs`.
template <typename Parse>
void ExpectSameDefaults(const std::string& crd_file, const std::vector<std::string>& specs,
                        Parse parse) {
  const YAML::Node schema = SpecSchema(crd_file);
  std::set<std::string> all;
  DefaultPaths(schema, "spec", &all);
  ASSERT_GT(all.size(), 3u) << crd_file;  // the schema was found and walked
  std::set<std::string> applied;
  for (const std::string& spec : specs) {
    const Defaulted d = Default(schema, spec);
    applied.insert(d.applied.begin(), d.applied.end());
    const auto bare = parse(d.minimal);
    const auto full = parse(d.defaulted);
    ASSERT_TRUE(bare.spec) << bare.error;
    ASSERT_TRUE(full.spec) << full.error << " in " << d.defaulted.serialize();
    EXPECT_EQ(*bare.spec, *full.spec)
        << crd_file << ": the CRD's defaults and the controller's differ at: "
        << ::testing::PrintToString(Disagreeing(schema, d.minimal, d.applied, parse));
  }
  for (const auto& path : all) EXPECT_EQ(applied.count(path), 1u) << path << " never applied";
}

TEST(CrdDefaults, RemediationTheCrdsDefaultsAreTheControllers) {
  // The required fields only; and again with the objects whose own fields' defaults a
  // minimal object never reaches: prometheus (its url is required), increasePoolSize
  // (defaulted as a whole; given as {}, its fields are defaulted one by one) and
  // notifications.webhook (its url is required).
  ExpectSameDefaults(
      "remediations.poolguard.dev.yaml",
      {R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"}})",
       R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
           "detection":{"prometheus":{"url":"http://prometheus:9090"}},
           "increasePoolSize":{}, "notifications":{"webhook":{"url":"http://hook/x"}}})"},
      ParseRemediationSpec);
}

TEST(CrdDefaults, ChaosExperimentTheCrdsDefaultsAreTheControllers) {
  ExpectSameDefaults(
      "chaosexperiments.poolguard.dev.yaml",
      {R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
           "fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}},
           "duration":"2m"})",
       R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
           "fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}},
           "stopConditions":{"prometheus":{"url":"http://prometheus:9090","query":"up",
                                           "above":0.5}},
           "duration":"2m"})",
       R"({"target":{"deployment":"api","service":"api"},
           "database":{"service":"db","credentialsSecret":"c"},
           "fault":{"type":"TrafficSurge","trafficSurge":{"concurrency":10}},
           "duration":"2m"})",
       R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
           "fault":{"type":"CredentialRotation","credentialRotation":{}},
           "duration":"2m"})",
       R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
           "fault":{"type":"DatabaseDown","databaseDown":{}},
           "duration":"2m"})",
       R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
           "fault":{"type":"NetworkPartition","networkPartition":{}},
           "duration":"2m"})"},
      ParseChaosSpec);
}

// A ChaosSchedule as the controller reads it, its template read as the experiment it becomes
// (the template is kept as JSON, where defaults the API server filled in would differ from
// absent fields that mean the same).
struct ScheduleView {
  std::string schedule, time_zone;
  ConcurrencyPolicy concurrency;
  bool suspend;
  int64_t deadline;
  int successful, failed;
  ChaosSpec experiment;
  bool operator==(const ScheduleView&) const = default;
};
struct ScheduleViewParse {
  std::optional<ScheduleView> spec;
  std::string error;
};
ScheduleViewParse ParseScheduleView(const Json& object) {
  const ScheduleSpecParse p = ParseScheduleSpec(object);
  if (!p.spec) return {std::nullopt, p.error};
  const ScheduleSpec& s = *p.spec;
  Json run = Json::object();
  run["spec"] = s.template_spec;
  const SpecParse experiment = ParseChaosSpec(run);
  if (!experiment.spec) return {std::nullopt, experiment.error};
  return {
      ScheduleView{s.schedule, s.time_zone, s.concurrency, s.suspend, s.starting_deadline.count(),
                   s.successful_history, s.failed_history, *experiment.spec},
      ""};
}

TEST(CrdDefaults, ChaosScheduleTheCrdsDefaultsAreTheControllers) {
  const std::string tmpl =
      R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
          "fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}},
          "duration":"2m"})";
  ExpectSameDefaults("chaosschedules.poolguard.dev.yaml",
                     {R"({"schedule":"@daily","experimentTemplate":{"spec":)" + tmpl + "}}",
                      R"({"schedule":"@daily","experimentTemplate":{"spec":
           {"target":{"deployment":"api","service":"api"},
            "database":{"service":"db","credentialsSecret":"c"},
            "fault":{"type":"TrafficSurge","trafficSurge":{"concurrency":10}},
            "stopConditions":{"prometheus":{"url":"http://p:9090","query":"up","above":0.5}},
            "duration":"2m"}}})",
                      R"({"schedule":"@daily","experimentTemplate":{"spec":
           {"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
            "fault":{"type":"CredentialRotation","credentialRotation":{}},"duration":"2m"}}})",
                      R"({"schedule":"@daily","experimentTemplate":{"spec":
           {"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
            "fault":{"type":"DatabaseDown","databaseDown":{}},"duration":"2m"}}})",
                      R"({"schedule":"@daily","experimentTemplate":{"spec":
           {"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},
            "fault":{"type":"NetworkPartition","networkPartition":{}},"duration":"2m"}}})"},
                     ParseScheduleView);
}

// Drops what may differ between the two copies: descriptions, and the rules that compare
// with the stored object (an experiment's spec is immutable, a template is not).
YAML::Node Comparable(const YAML::Node& node) {
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (key == "description") continue;
      if (key == "x-kubernetes-validations") {
        YAML::Node rules(YAML::NodeType::Sequence);
        for (const auto& r : kv.second)
          if (r["rule"].as<std::string>().find("oldSelf") == std::string::npos) rules.push_back(r);
        if (rules.size() > 0) out[key] = rules;
        continue;
      }
      out[key] = Comparable(kv.second);
    }
    return out;
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) out.push_back(Comparable(item));
    return out;
  }
  return node;
}

TEST(CrdDefaults, AScheduleTemplateIsValidatedAsAChaosExperimentSpec) {
  const YAML::Node tmpl =
      SpecSchema("chaosschedules.poolguard.dev.yaml")["properties"]["experimentTemplate"]
                                                     ["properties"]["spec"];
  ASSERT_TRUE(tmpl.IsMap());
  YAML::Emitter a, b;
  a << Comparable(tmpl);
  b << Comparable(SpecSchema("chaosexperiments.poolguard.dev.yaml"));
  EXPECT_EQ(std::string(a.c_str()), std::string(b.c_str()))
      << "crds/chaosschedules.poolguard.dev.yaml's experimentTemplate.spec has drifted from "
         "ChaosExperiment.spec: copy it over (less the oldSelf rules)";
}

// The check itself can fail: a default the controller does not share is caught.
TEST(CrdDefaults, ADifferingDefaultIsCaught) {
  YAML::Node schema = SpecSchema("remediations.poolguard.dev.yaml");
  schema["properties"]["detection"]["properties"]["interval"]["default"] = "2s";
  const Defaulted d = Default(
      schema,
      R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"}})");
  EXPECT_NE(*ParseRemediationSpec(d.minimal).spec, *ParseRemediationSpec(d.defaulted).spec);
  EXPECT_EQ(Disagreeing(schema, d.minimal, d.applied, ParseRemediationSpec),
            std::vector<std::string>{"spec.detection.interval"});
}

}  // namespace
}  // namespace poolguard::controller
