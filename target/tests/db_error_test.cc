#include "db_error.h"

#include <gtest/gtest.h>

namespace poolguard::target {
namespace {

TEST(DbError, ClassifiesConnectTimeMessages) {
  EXPECT_EQ(ClassifyConnectError("FATAL:  sorry, too many clients already"),
            DbErrorKind::kTooManyClients);
  EXPECT_EQ(ClassifyConnectError("FATAL:  remaining connection slots are reserved for "
                                 "non-replication superuser connections"),
            DbErrorKind::kTooManyClients);
  EXPECT_EQ(ClassifyConnectError("FATAL:  password authentication failed for user \"app\""),
            DbErrorKind::kAuthentication);
  EXPECT_EQ(ClassifyConnectError("connection to server at \"127.0.0.1\", port 1 failed: "
                                 "Connection refused"),
            DbErrorKind::kConnectionRefused);
  EXPECT_EQ(ClassifyConnectError("FATAL:  the database system is shutting down"),
            DbErrorKind::kConnectionLost);
}

TEST(DbError, ClassifiesStatementsBySqlstate) {
  EXPECT_EQ(ClassifyStatementError("53300", ""), DbErrorKind::kTooManyClients);
  EXPECT_EQ(ClassifyStatementError("57P01", "terminating connection"),
            DbErrorKind::kConnectionLost);
  EXPECT_EQ(ClassifyStatementError("08006", ""), DbErrorKind::kConnectionLost);
  EXPECT_EQ(ClassifyStatementError("42P01", "relation does not exist"), DbErrorKind::kQuery);
  EXPECT_EQ(ClassifyStatementError("", "server closed the connection unexpectedly"),
            DbErrorKind::kConnectionLost);
}

TEST(DbError, KindNamesAreStableLabels) {
  EXPECT_EQ(KindName(DbErrorKind::kPoolTimeout), "pool_timeout");
  EXPECT_EQ(KindName(DbErrorKind::kTooManyClients), "too_many_clients");
  EXPECT_EQ(KindName(DbErrorKind::kAuthentication), "authentication");
  EXPECT_EQ(KindName(DbErrorKind::kConnectionRefused), "connection_refused");
}

}  // namespace
// The request's fault, answered 400 and never counted as an outage (a 503 would let any
// client fail a Remediation's verification).
TEST(DbError, DataExceptionsAndConstraintViolationsAreInputErrors) {
  for (const char* state : {"22021", "22003", "22P02", "23505", "23514"}) {
    EXPECT_TRUE(IsInputError(state)) << state;
  }
  for (const char* state : {"53300", "57P01", "08006", "40001", "42P01", "", "2"}) {
    EXPECT_FALSE(IsInputError(state)) << state;
  }
}

TEST(DbError, ClientsGetTheKindInWordsNotTheServersText) {
  for (auto kind : {DbErrorKind::kTooManyClients, DbErrorKind::kAuthentication,
                    DbErrorKind::kConnectionRefused, DbErrorKind::kConnectionLost,
                    DbErrorKind::kQuery}) {
    const std::string_view text = KindDescription(kind);
    EXPECT_FALSE(text.empty());
    EXPECT_EQ(text.find("host"), std::string_view::npos) << text;
  }
}

}  // namespace poolguard::target
