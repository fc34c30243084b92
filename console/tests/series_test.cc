// The target chart's queries and Prometheus answers.
#include "series.h"

#include <gtest/gtest.h>

namespace poolguard::console {
namespace {

web::json::value Rem(const std::string& extra = "") {
  return web::json::value::parse(
      R"({"metadata":{"name":"orders","namespace":"shop"},"spec":{"target":{"deployment":"orders-api"},)"
      R"("database":{"service":"db","credentialsSecret":"c"},"detection":{)" +
      extra + R"("prometheus":{"url":"http://prom:9090"}}}})");
}

TEST(QueriesFor, ThePresetsQueriesForTheTarget) {
  const SeriesQueries q = QueriesFor(Rem());
  EXPECT_EQ(q.error, "");
  EXPECT_EQ(q.prometheus_url, "http://prom:9090");
  EXPECT_NE(q.error_ratio.find(R"(namespace="shop",pod=~"orders-api-)"), std::string::npos)
      << q.error_ratio;
  EXPECT_NE(q.error_ratio.find("[1m]"), std::string::npos) << q.error_ratio;
  EXPECT_NE(q.pool_saturation.find("db_pool_checked_out"), std::string::npos);
  const SeriesQueries hikari = QueriesFor(Rem(R"("metrics":{"preset":"HikariCP"},)"));
  EXPECT_NE(hikari.pool_saturation.find("hikaricp_connections_active"), std::string::npos);
  // The spec's own error-ratio query wins; a preset with no pool metrics has no chart line.
  const SeriesQueries own = QueriesFor(web::json::value::parse(
      R"({"metadata":{"name":"orders","namespace":"shop"},"spec":{"target":{"deployment":"o"},)"
      R"("database":{"service":"db","credentialsSecret":"c"},"detection":{"metrics":{"preset":"None"},)"
      R"("prometheus":{"url":"http://prom:9090","queries":{"errorRatio":"my_ratio{ns=\"$namespace\"}"}}}}})"));
  EXPECT_EQ(own.error_ratio, R"(my_ratio{ns="shop"})");
  EXPECT_EQ(own.pool_saturation, "");
  EXPECT_NE(QueriesFor(web::json::value::parse(R"({"spec":{}})")).error, "");
}

TEST(RangeUrl, EscapesTheQuery) {
  EXPECT_EQ(RangeUrl("http://prom:9090/", "sum(x{a=\"b\"})", 1000, 600, 5),
            "http://prom:9090/api/v1/query_range?query=sum%28x%7Ba%3D%22b%22%7D%29&start=400&end="
            "1000&step=5");
}

TEST(ParseRange, TheFirstSeriesFiniteValuesOnly) {
  std::string error;
  auto points = ParseRange(
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1.5,"0.25"],[2,"NaN"],[3,"+Inf"],[4,"1"]]}]}})",
      &error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0], (std::pair<double, double>{1.5, 0.25}));
  EXPECT_EQ(points[1], (std::pair<double, double>{4, 1}));
  EXPECT_TRUE(ParseRange(R"({"status":"success","data":{"result":[]}})", &error).empty());
  EXPECT_EQ(error, "");
  ParseRange(R"({"status":"error","error":"parse error at char 3"})", &error);
  EXPECT_EQ(error, "parse error at char 3");
  error.clear();
  ParseRange("<html>", &error);
  EXPECT_EQ(error, "not a Prometheus answer");
}

}  // namespace
}  // namespace poolguard::console
