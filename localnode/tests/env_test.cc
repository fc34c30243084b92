#include "env.h"

#include <gtest/gtest.h>

namespace poolguard::localnode {
namespace {

std::optional<std::string> Lookup(const std::string& name) {
  if (name == "A") return std::string("alpha");
  if (name == "EMPTY") return std::string();
  return std::nullopt;
}

TEST(ExpandVars, ReplacesKnownAndKeepsUnknown) {
  EXPECT_EQ(ExpandVars("x-$(A)-y", Lookup), "x-alpha-y");
  EXPECT_EQ(ExpandVars("$(B)", Lookup), "$(B)");
  EXPECT_EQ(ExpandVars("[$(EMPTY)]", Lookup), "[]");
}

TEST(ExpandVars, EscapesAndLiterals) {
  EXPECT_EQ(ExpandVars("$$(A)", Lookup), "$(A)");
  EXPECT_EQ(ExpandVars("cost $5 $", Lookup), "cost $5 $");
  EXPECT_EQ(ExpandVars("$(A", Lookup), "$(A");
  EXPECT_EQ(ExpandVars("$(A)$(A)", Lookup), "alphaalpha");
}

Json Parse(const std::string& s) { return Json::parse(s); }

EnvSources Sources() {
  EnvSources s;
  s.config_map = [](const std::string& ns,
                    const std::string& name) -> std::optional<std::map<std::string, std::string>> {
    if (ns == "prod" && name == "cfg")
      return std::map<std::string, std::string>{{"LEVEL", "debug"}, {"bad key", "x"}};
    return std::nullopt;
  };
  s.secret = [](const std::string& ns,
                const std::string& name) -> std::optional<std::map<std::string, std::string>> {
    if (ns == "prod" && name == "db")
      return std::map<std::string, std::string>{{"password", "s3cret"}};
    return std::nullopt;
  };
  return s;
}

const char* kPod =
    R"J({"metadata":{"name":"api-1","namespace":"prod","uid":"u1","labels":{"app":"api"}},
  "spec":{"nodeName":"localnode","serviceAccountName":"sa"}})J";

TEST(BuildEnv, ValuesValueFromAndEnvFromInKubeletOrder) {
  Json container = Parse(R"J({"name":"c",
    "envFrom":[{"configMapRef":{"name":"cfg"}},{"prefix":"S_","secretRef":{"name":"db"}}],
    "env":[{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
           {"name":"NS","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}},
           {"name":"IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}},
           {"name":"APP","valueFrom":{"fieldRef":{"fieldPath":"metadata.labels['app']"}}},
           {"name":"PW","valueFrom":{"secretKeyRef":{"name":"db","key":"password"}}},
           {"name":"LEVEL","value":"override"},
           {"name":"URL","value":"postgresql://app:$(PW)@db:5432/$(POD)?x=$(NOPE)"}]})J");
  EnvList base;
  base.Set("KUBERNETES_SERVICE_HOST", "127.0.0.1");
  EnvList env = BuildEnv(Parse(kPod), container, "10.244.0.2", "127.0.0.1", base, Sources());
  EXPECT_EQ(env.Get("KUBERNETES_SERVICE_HOST"), "127.0.0.1");
  EXPECT_EQ(env.Get("POD"), "api-1");
  EXPECT_EQ(env.Get("NS"), "prod");
  EXPECT_EQ(env.Get("IP"), "10.244.0.2");
  EXPECT_EQ(env.Get("APP"), "api");
  EXPECT_EQ(env.Get("S_password"), "s3cret");
  EXPECT_EQ(env.Get("LEVEL"), "override");  // env wins over envFrom
  EXPECT_FALSE(env.Get("bad key"));         // invalid names from envFrom are skipped
  EXPECT_EQ(env.Get("URL"), "postgresql://app:s3cret@db:5432/api-1?x=$(NOPE)");
}

TEST(BuildEnv, MissingSourcesFailUnlessOptional) {
  Json missing_cm = Parse(
      R"J({"env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"nope","key":"k"}}}]})J");
  try {
    BuildEnv(Parse(kPod), missing_cm, "", "", {}, Sources());
    FAIL() << "expected ContainerConfigError";
  } catch (const ContainerConfigError& e) {
    EXPECT_STREQ(e.what(), "configmap \"nope\" not found");
  }
  Json missing_key =
      Parse(R"J({"env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"db","key":"user"}}}]})J");
  try {
    BuildEnv(Parse(kPod), missing_key, "", "", {}, Sources());
    FAIL() << "expected ContainerConfigError";
  } catch (const ContainerConfigError& e) {
    EXPECT_STREQ(e.what(), "couldn't find key user in Secret prod/db");
  }
  Json optional = Parse(
      R"J({"env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"zz","key":"k","optional":true}}}],
                            "envFrom":[{"configMapRef":{"name":"zz","optional":true}}]})J");
  EnvList env = BuildEnv(Parse(kPod), optional, "", "", {}, Sources());
  EXPECT_FALSE(env.Get("X"));
}

TEST(ExpandAll, CommandAndArgs) {
  EnvList env;
  env.Set("PORT", "8000");
  EXPECT_EQ(ExpandAll({"--port=$(PORT)", "$(MISSING)", "$$(PORT)"}, env),
            (std::vector<std::string>{"--port=8000", "$(MISSING)", "$(PORT)"}));
}

}  // namespace
}  // namespace poolguard::localnode
