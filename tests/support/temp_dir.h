// A fresh directory for one test under /tmp, removed with everything in it. The path
// is short on purpose: unix socket paths inside it must fit in sun_path (~108 bytes).
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace shardnode::test {

struct TempDir {
  explicit TempDir(const std::string& prefix = "sn-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path path;
};

}  // namespace shardnode::test
