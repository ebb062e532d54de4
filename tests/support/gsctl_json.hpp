/* SPDX-License-Identifier: MIT */
/* What the tests that run gsctl share: where the built gsctl is, and the
 * provider of a given instance in one of its JSON lists. */
#pragma once

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>

namespace test_support {

inline std::string gsctlPath()
{
    const char *path = std::getenv("GSCTL_PATH");
    REQUIRE_MESSAGE(path != nullptr, "GSCTL_PATH is not set (run through meson test)");
    return path;
}

inline nlohmann::json providerOf(const nlohmann::json &list, int instance)
{
    for (const auto &p : list)
        if (p.at("instance") == instance)
            return p;
    FAIL("no provider " << instance << " in " << list.dump());
    return {};
}

} // namespace test_support
