// A request as the pool sees it, for the pool's scripted tests: records
// what it is told and fails the test when told inside its own call.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "upstream/pool.h"

namespace tlsterm::upstream::test_support {

class recording_user final : public user {
  public:
    void on_connection(pooled_connection& c) override {
        check_not_inside();
        conn = &c;
        events.push_back("connection");
    }
    void on_no_connection(int status, const std::string& cause) override {
        check_not_inside();
        events.push_back("no connection " + std::to_string(status));
        last_cause = cause;
    }
    void on_upstream_data(std::span<const uint8_t> bytes) override {
        check_not_inside();
        data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    void on_upstream_closed(bool eof, const std::string& cause) override {
        check_not_inside();
        conn = nullptr;
        events.push_back(eof ? "closed eof" : "closed error");
        last_cause = cause;
    }
    void on_upstream_drained() override {
        check_not_inside();
        ++drained;
    }
    void on_response_timeout() override {
        check_not_inside();
        conn = nullptr;
        events.push_back("response timeout");
    }
    uint64_t client() const override { return address; }

    // Each user its own client address unless a test says otherwise.
    uint64_t address = next_address();
    // Set while this user is inside a call into the pool or a connection.
    bool inside = false;
    pooled_connection* conn = nullptr;
    std::vector<std::string> events;
    std::string data;
    std::string last_cause;
    int drained = 0;

  private:
    static uint64_t next_address() {
        static uint64_t n = 0;
        return ++n;
    }
    void check_not_inside() const {
        EXPECT_FALSE(inside) << "the pool called back into the user inside its own call";
    }
};

}  // namespace tlsterm::upstream::test_support
