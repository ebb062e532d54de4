/* SPDX-License-Identifier: MIT */
#include "gsd/admin_json.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace gs::admin {

using nlohmann::json;

json providerJson(const ObservedProvider &provider, std::optional<pid_t> pid)
{
    json out = json::object();
    out["instance"] = provider.id.instance;
    out["node"] = provider.id.node;
    out["client"] = provider.client;
    out["pid"] = pid ? json(*pid) : json(nullptr);
    return out;
}

json bytesJson(const Bytes &bytes)
{
    const bool printable =
        std::all_of(bytes.begin(), bytes.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (const char c : bytes)
        hex += fmt::format("{:02x}", static_cast<unsigned char>(c));
    return json{{"bytes", bytes.size()},
                {"text", printable ? json(bytes) : json(nullptr)},
                {"hex", std::move(hex)}};
}

std::string text(const json &document)
{
    return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string timestamp()
{
    const auto now = std::chrono::system_clock::now();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z",
                       fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms);
}

} // namespace gs::admin
