#include "backend/block_store.hpp"

#include <cerrno>

#include <gtest/gtest.h>

namespace atsarray::backend {
namespace {

TEST(StatusTest, OkByDefault) {
    const Status s = Status::success();
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(to_string(s), "ok");
}

TEST(StatusTest, NamesCodeAndErrno) {
    EXPECT_EQ(to_string(Status::error(StoreErrc::out_of_range)), "out of range");
    EXPECT_EQ(to_string(Status::error(StoreErrc::read_only)), "read-only");
    EXPECT_EQ(to_string(Status::error(StoreErrc::no_space)), "no space");
    const std::string text = to_string(Status::error(StoreErrc::io_error, EIO));
    EXPECT_EQ(text.rfind("I/O error (errno 5: ", 0), 0u) << text;
    EXPECT_FALSE(Status::error(StoreErrc::io_error, EIO).ok());
}

}  // namespace
}  // namespace atsarray::backend
