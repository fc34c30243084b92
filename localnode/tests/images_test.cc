#include "images.h"

#include <gtest/gtest.h>

namespace poolguard::localnode {
namespace {

const char* kTable = R"(
images:
  - image: "poolguard/target:*"
    entrypoint: ["${BUILD}/target/poolguard-target"]
    paths:
      /usr/local/bin/poolguard-target: "${BUILD}/target/poolguard-target"
  - image: "postgres:*"
    entrypoint: ["${IMAGES}/postgres.sh"]
    cmd: ["postgres"]
  - image: "prom/prometheus:*"
    entrypoint: /usr/bin/prometheus
    cmd: ["--config.file=/etc/prometheus/prometheus.yml"]
)";

std::map<std::string, std::string> Vars() {
  return {{"BUILD", "/b"}, {"IMAGES", "/r/localnode/images"}};
}

TEST(ImageTable, ParsesAndMatches) {
  ImageTable t = ImageTable::Parse(kTable, Vars());
  ASSERT_EQ(t.entries().size(), 3u);
  const ImageEntry* e = t.Find("poolguard/target:dev");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->entrypoint, std::vector<std::string>{"/b/target/poolguard-target"});
  ASSERT_NE(t.Find("docker.io/library/postgres:16"), nullptr);
  EXPECT_EQ(t.Find("postgres")->pattern, "postgres:*");  // :latest added
  ASSERT_NE(t.Find("prom/prometheus:v2.53.0"), nullptr);
  EXPECT_EQ(t.Find("prom/prometheus:v2.53.0")->entrypoint,
            std::vector<std::string>{"/usr/bin/prometheus"});
  EXPECT_EQ(t.Find("example.invalid/web:1"), nullptr);
  EXPECT_EQ(t.Find("poolguard/controller:1"), nullptr);
}

TEST(ImageTable, ErrorsNameTheProblem) {
  EXPECT_THROW(ImageTable::Parse("images: 3", Vars()), ImageTableError);
  try {
    ImageTable::Parse("images:\n  - image: x\n    entrypoint: ['${NOPE}/x']\n", Vars(), "t.yaml");
    FAIL();
  } catch (const ImageTableError& e) {
    EXPECT_NE(std::string(e.what()).find("${NOPE}"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.yaml"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ImageTable::Parse("images:\n  - image: x\n", Vars()), ImageTableError);
}

TEST(ImageTable, RepositoryTableLoads) {
  ImageTable t = ImageTable::LoadFile(std::string(POOLGUARD_SOURCE_DIR) + "/localnode/images.yaml",
                                      {{"REPO", "/r"}, {"BUILD", "/b"}, {"IMAGES", "/i"}});
  EXPECT_NE(t.Find("poolguard/target:latest"), nullptr);
  EXPECT_NE(t.Find("postgres:16"), nullptr);
  EXPECT_NE(t.Find("prom/prometheus:v3.0.0"), nullptr);
}

TEST(NormalizeImage, DockerHubForms) {
  EXPECT_EQ(NormalizeImage("postgres"), "postgres:latest");
  EXPECT_EQ(NormalizeImage("docker.io/library/postgres:16"), "postgres:16");
  EXPECT_EQ(NormalizeImage("localhost:5000/app"), "localhost:5000/app:latest");
  EXPECT_EQ(NormalizeImage("app@sha256:abc"), "app@sha256:abc");
}

TEST(GlobMatch, Stars) {
  EXPECT_TRUE(GlobMatch("a*", "abc"));
  EXPECT_TRUE(GlobMatch("*b*", "abc"));
  EXPECT_TRUE(GlobMatch("a*c", "abbbc"));
  EXPECT_FALSE(GlobMatch("a*d", "abc"));
  EXPECT_FALSE(GlobMatch("abc", "abcd"));
}

TEST(ContainerArgv, DockerEntrypointSemantics) {
  ImageEntry e;
  e.entrypoint = {"/local/pg.sh"};
  e.cmd = {"postgres"};
  e.paths = {{"/usr/local/bin/poolguard-target", "/b/poolguard-target"}};
  EXPECT_EQ(ContainerArgv(e, {}, {}), (std::vector<std::string>{"/local/pg.sh", "postgres"}));
  EXPECT_EQ(ContainerArgv(e, {}, {"-c", "x=1"}),
            (std::vector<std::string>{"/local/pg.sh", "-c", "x=1"}));
  EXPECT_EQ(ContainerArgv(e, {"/usr/local/bin/poolguard-target", "migrate"}, {"--v"}),
            (std::vector<std::string>{"/b/poolguard-target", "migrate", "--v"}));
  EXPECT_EQ(ContainerArgv(e, {"poolguard-target"}, {}),
            (std::vector<std::string>{"/b/poolguard-target"}));
  EXPECT_EQ(ContainerArgv(e, {"sh", "-c", "echo hi"}, {}),
            (std::vector<std::string>{"sh", "-c", "echo hi"}));
}

}  // namespace
}  // namespace poolguard::localnode
